"""Fuzzing the live router's HTTP layer: malformed bodies, odd JSON, odd paths, methods
and headers must get a clear 4xx (or a routed answer), never a 500 or a crash."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from router_harness import FakeUpstream, RouterHandle, policy_doc, running_router, serving

pytestmark = pytest.mark.integration

ALLOWED = {200, 202, 400, 404, 405, 413}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RouterHandle, httpx.Client]]:
    up = FakeUpstream("up", answer="fine")
    with serving(up) as s:
        doc = policy_doc(
            s.url,
            {"v1": s.url},
            confidence={"enabled": True},
            limits={"maxBodyBytes": 4096},
            tiers={"header": "x-tier", "trustHeader": True},
        )
        with (
            running_router(doc, tmp_path_factory.mktemp("fuzz")) as r,
            httpx.Client(base_url=r.url, timeout=10) as client,
        ):
            yield r, client


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "system", "assistant", 3]),
            "content": st.one_of(st.text(max_size=200), json_values),
        },
    ),
    max_size=4,
)
requests = st.fixed_dictionaries(
    {"model": st.sampled_from(["hybrid", "hybrid", "other", 7])},
    optional={
        "messages": st.one_of(messages, json_values),
        "prompt": json_values,
        "stream": st.one_of(st.booleans(), json_values),
        "logprobs": json_values,
        "extra": json_values,
    },
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check(resp: httpx.Response) -> None:
    assert resp.status_code in ALLOWED, (resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        body: Any = resp.json()
        assert isinstance(body["error"]["message"], str)


@FUZZ
@given(
    body=st.binary(max_size=600),
    path=st.sampled_from(
        ["/v1/chat/completions", "/v1/completions", "/v1/route/explain", "/v1/feedback"]
    ),
)
def test_random_bytes_never_cause_a_server_error(
    live: tuple[RouterHandle, httpx.Client], body: bytes, path: str
) -> None:
    check(live[1].post(path, content=body))


@FUZZ
@given(
    req=requests,
    path=st.sampled_from(["/v1/chat/completions", "/v1/completions"]),
    headers=st.dictionaries(
        st.sampled_from(
            ["x-tier", "x-request-id", "traceparent", "x-hybridroute-explain", "authorization"]
        ),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip),
        max_size=3,
    ),
    ascii_only=st.booleans(),
)
def test_odd_json_requests_get_an_answer_or_a_clear_error(
    live: tuple[RouterHandle, httpx.Client],
    req: dict[str, Any],
    path: str,
    headers: dict[str, str],
    ascii_only: bool,
) -> None:
    # ascii_only: non-ASCII (lone surrogates too) as \u escapes; else raw UTF-8 bytes
    content = json.dumps(req, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    check(live[1].post(path, content=content, headers=headers))


@FUZZ
@given(
    method=st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    path=st.sampled_from(
        ["/v1/chat/completions", "/v1/models", "/metrics", "/nope", "/v1/feedback", "/healthz"]
    ),
)
def test_wrong_methods_and_paths_are_4xx(
    live: tuple[RouterHandle, httpx.Client], method: str, path: str
) -> None:
    resp = live[1].request(method, path)
    assert resp.status_code in ALLOWED


@FUZZ
@given(
    raw=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda line, headers, body: line + b"\r\n" + headers + b"\r\n\r\n" + body,
            st.sampled_from(
                [
                    b"POST /v1/chat/completions HTTP/1.1",
                    b"GET / HTTP/1.0",
                    b"POST /v1/completions HTTP/1.1",
                    b"BREW /pot HTCPCP/1.0",
                ]
            ),
            st.binary(max_size=120),
            st.binary(max_size=120),
        ),
    )
)
def test_malformed_http_never_crashes_the_server(
    live: tuple[RouterHandle, httpx.Client], raw: bytes
) -> None:
    reply = b""
    with socket.create_connection(("127.0.0.1", live[0].server.port), timeout=5) as sock:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        try:
            while chunk := sock.recv(65536):  # to EOF: the server must end the exchange
                reply += chunk
        except ConnectionResetError:
            pass  # closed (with our unread bytes in its buffer): an end, not a hang
        except TimeoutError:
            pytest.fail(f"no reply and no close within 5 s; got {reply[:200]!r}")
    # either an answer that is not a server error, or a close without one (e.g. the
    # request never became complete before our end of the stream)
    if reply:
        assert reply.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), reply[:200]
        status = int(reply.split(b" ", 2)[1])
        assert status < 500, reply[:200]
    # and the server is still alive for the next client
    assert live[1].get("/healthz").status_code == 200


def test_the_router_still_serves_after_the_fuzzing(live: tuple[RouterHandle, httpx.Client]) -> None:
    resp = live[1].post(
        "/v1/chat/completions",
        json={"model": "hybrid", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "fine"
    assert live[0].server.thread.is_alive()
