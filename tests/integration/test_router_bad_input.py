"""Bad input on every POST endpoint gets a counted, OpenAI-style 4xx; an unexpected
exception anywhere in a request gets an OpenAI-style 500 (``internal_error``), counted in
``hybridroute_requests_total{code="500"}`` and logged with the request id, never
uvicorn's plain-text "Internal Server Error"."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from router_harness import (
    RouterProcess,
    fake_upstream,
    policy_doc,
    router_process,
    running_router,
)

pytestmark = pytest.mark.integration

POSTS = ["/v1/chat/completions", "/v1/completions", "/v1/route/explain", "/v1/feedback"]
GOOD = {"model": "hybrid", "messages": [{"role": "user", "content": "hi"}], "prompt": "hi"}


@pytest.fixture(scope="module")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterProcess]:
    """The ``hybridroute-router`` process on loopback in front of a real test upstream."""
    with (
        fake_upstream("large", "large") as (_, large),
        fake_upstream("small", "small") as (_, small),
    ):
        path = tmp_path_factory.mktemp("bad-input") / "policy.json"
        path.write_text(json.dumps(policy_doc(large, {"v1": small})))
        with router_process(path) as p:
            yield p


def body_for(path: str, inner: bytes) -> bytes:
    """A body that is valid for ``path`` except for ``inner`` placed in a string field."""
    if path == "/v1/feedback":
        return b'{"request_id":"abc","score":0.5,"comment":"' + inner + b'"}'
    return (
        b'{"model":"hybrid","messages":[{"role":"user","content":"' + inner + b'"}],"prompt":"x"}'
    )


def assert_openai_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["content-type"] == "application/json"
    err: dict[str, Any] = resp.json()["error"]
    assert err["code"] == code, err
    assert isinstance(err["message"], str)
    assert err["message"]
    assert set(err) == {"message", "type", "param", "code"}
    return err


def counted(url: str, code: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    pattern = re.compile(
        r'^hybridroute_requests_total\{[^}]*code="' + code + r'"[^}]*\} (\S+)$', re.M
    )
    return sum(float(v) for v in pattern.findall(text))


@pytest.mark.parametrize("path", POSTS)
def test_invalid_utf8_inside_a_json_string_is_a_400(proc: RouterProcess, path: str) -> None:
    with httpx.Client(base_url=proc.url, timeout=10) as client:
        for bad in (b"\xff", b"caf\xc3", b"\xed\xa0\x80", b"ok\x80ok"):
            resp = client.post(path, content=body_for(path, bad))
            err = assert_openai_error(resp, 400, "invalid_utf8")
            assert "UTF-8" in err["message"]
        # the connection was kept and the router still serves
        ok = client.post("/v1/chat/completions", json=GOOD)
        assert ok.status_code == 200
        assert ok.headers.get("connection") != "close"


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("depth", [1000, 5000, 200])
def test_deeply_nested_json_is_a_400(proc: RouterProcess, path: str, depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    body = b'{"model":"hybrid","prompt":"x","messages":' + nested + b"}"
    err = assert_openai_error(httpx.post(proc.url + path, content=body), 400, "json_too_deep")
    assert "nested" in err["message"]


def test_json_nested_within_the_limit_is_served(proc: RouterProcess) -> None:
    """A tool schema nested a few tens of levels is ordinary input, not an attack."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(30):
        schema = {"type": "object", "properties": {"x": schema}}
    body = {
        **GOOD,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
    }
    resp = httpx.post(proc.url + "/v1/chat/completions", json=body)
    assert resp.status_code == 200, resp.text[:300]


def test_bad_input_is_counted_as_400_not_500(proc: RouterProcess) -> None:
    before_400, before_500 = counted(proc.url, "400"), counted(proc.url, "500")
    httpx.post(proc.url + "/v1/chat/completions", content=body_for("chat", b"\xff"))
    httpx.post(proc.url + "/v1/completions", content=b"[" * 1000 + b"]" * 1000)
    assert counted(proc.url, "400") == before_400 + 2
    assert counted(proc.url, "500") == before_500


# -- the safety net: a fault injected inside the router (in-process, same code) --------


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Any]:
    with (
        fake_upstream("large", "large") as (_, large),
        fake_upstream("small", "small") as (_, small),
        running_router(policy_doc(large, {"v1": small}), tmp_path) as r,
    ):
        yield r


def boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("fault injected by the test")


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/v1/chat/completions", "hybridroute_router.http.app.extract"),
        ("/v1/completions", "hybridroute_router.http.app.build_request"),
        ("/v1/route/explain", "hybridroute_router.http.app.serve_explain"),
        ("/v1/feedback", "hybridroute_router.http.endpoints.user_record"),
    ],
)
def test_an_unexpected_exception_is_an_openai_style_500_counted_and_logged(
    live: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    path: str,
    target: str,
) -> None:
    body = {"request_id": "abc", "score": 1} if path == "/v1/feedback" else GOOD
    before = counted(live.url, "500")
    monkeypatch.setattr(target, boom)
    with caplog.at_level(logging.ERROR, logger="hybridroute.router.http"):
        resp = httpx.post(live.url + path, json=body, headers={"x-request-id": "fault-1"})
    assert_openai_error(resp, 500, "internal_error")
    rid = resp.headers["x-hybridroute-request-id"]
    assert rid
    assert counted(live.url, "500") == before + 1
    logged = [r for r in caplog.records if rid in r.getMessage()]
    assert logged, [r.getMessage() for r in caplog.records]
    assert logged[0].exc_info is not None  # with the traceback
    monkeypatch.undo()
    assert httpx.post(live.url + "/v1/chat/completions", json=GOOD).status_code == 200


def test_a_fault_after_the_answer_was_sent_is_counted_and_logged(
    live: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The client already has its answer; the failure (here in accounting) must not pass
    unseen."""
    before = counted(live.url, "500")
    monkeypatch.setattr("hybridroute_router.http.app.account", boom)
    with caplog.at_level(logging.ERROR, logger="hybridroute.router.http"):
        resp = httpx.post(live.url + "/v1/chat/completions", json=GOOD)
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "small"
    assert counted(live.url, "500") == before + 1
    rid = resp.headers["x-hybridroute-request-id"]
    assert any(rid in r.getMessage() for r in caplog.records)


def test_a_fault_in_the_middle_of_a_stream_ends_it_with_an_error_event(
    live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a stream has started its status cannot change: the router ends it with an SSE
    error event (which the OpenAI SDKs raise) instead of cutting the connection."""
    from hybridroute_router.upstream.http1 import Response

    real = Response.next_chunk
    calls: list[int] = []

    async def fails_on_the_second_chunk(self: Response) -> bytes | None:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("fault injected by the test")
        return await real(self)

    before = counted(live.url, "500")
    monkeypatch.setattr(Response, "next_chunk", fails_on_the_second_chunk)
    body = {**GOOD, "stream": True}
    with httpx.stream("POST", live.url + "/v1/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        text = resp.read().decode()
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    assert events[-1]["error"]["code"] == "internal_error"
    assert counted(live.url, "500") == before + 1
