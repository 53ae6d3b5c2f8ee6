"""The router's OpenAI-compatible API, driven by the official openai SDK against real
upstream test servers on loopback."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from router_harness import (
    FakeUpstream,
    fake_upstream,
    metrics_with,
    policy_doc,
    running_router,
    serving,
    wait_for,
)

pytestmark = pytest.mark.integration

HARD = (
    "Step by step, design a Python class that solves the equation x^2 + 3 * x = 10 and "
    "explain the trade-offs.\n```python\ndef solve(a, b):\n    return a\n```\n"
    "What is the complexity? Which edge cases fail? How would you test it?"
)
SIMPLE = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def large() -> Iterator[tuple[FakeUpstream, str]]:
    with fake_upstream("large", "large says Paris") as pair:
        yield pair


@pytest.fixture
def small() -> Iterator[tuple[FakeUpstream, str]]:
    with fake_upstream("small", "small says Paris") as pair:
        yield pair


def router(tmp_path: Path, large: Any, small: Any, *args: str, **sections: Any) -> Any:
    return running_router(policy_doc(large[1], {"v1": small[1]}, **sections), tmp_path, *args)


def test_simple_chat_goes_to_small_with_routing_headers_and_model_rewrite(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with router(tmp_path, large, small) as r:
        raw = r.openai().chat.completions.with_raw_response.create(model="hybrid", messages=SIMPLE)
        completion = raw.parse()
    assert completion.choices[0].message.content == "small says Paris"
    assert raw.headers["x-hybridroute-model"] == "small-v1"
    assert raw.headers["x-hybridroute-version"] == "v1"
    assert raw.headers["x-hybridroute-reason"] == "complexity_below_threshold"
    assert raw.headers["x-hybridroute-request-id"]
    assert small[0].requests[-1]["model"] == "small-v1"
    assert large[0].requests == []


def test_hard_chat_goes_to_large(tmp_path: Path, large: Any, small: Any) -> None:
    with router(tmp_path, large, small) as r:
        raw = r.openai().chat.completions.with_raw_response.create(
            model="hybrid", messages=[{"role": "user", "content": HARD}]
        )
    assert raw.parse().choices[0].message.content == "large says Paris"
    assert raw.headers["x-hybridroute-reason"] == "complexity_above_threshold"
    assert raw.headers["x-hybridroute-version"] == "large"
    assert large[0].requests[-1]["model"] == "large-model"


def test_legacy_completions_endpoint(tmp_path: Path, large: Any, small: Any) -> None:
    with router(tmp_path, large, small) as r:
        completion = r.openai().completions.create(model="hybrid", prompt="Say hi")
    assert completion.choices[0].text == "small says Paris"


def test_streaming_reaches_the_client_chunk_by_chunk_before_the_upstream_finishes(
    tmp_path: Path, large: Any, small: Any
) -> None:
    gate = threading.Event()
    small[0].gate = gate
    try:
        with router(tmp_path, large, small) as r:
            stream = r.openai().chat.completions.create(
                model="hybrid", messages=SIMPLE, stream=True
            )
            chunks = iter(stream)
            first = next(chunks)
            # The upstream is holding the rest until we have seen the first chunk.
            assert not gate.is_set()
            gate.set()
            rest = [c.choices[0].delta.content for c in chunks]
    finally:
        gate.set()
    assert first.choices[0].delta.content == "small"
    assert (
        "".join([first.choices[0].delta.content or "", *[x or "" for x in rest]])
        == "small says Paris"
    )


def test_models_lists_the_public_model(tmp_path: Path, large: Any, small: Any) -> None:
    with router(tmp_path, large, small) as r:
        models = r.openai().models.list()
    assert [m.id for m in models.data] == ["hybrid"]


def test_unknown_request_fields_pass_through_to_the_upstream(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with router(tmp_path, large, small) as r:
        r.openai().chat.completions.create(
            model="hybrid",
            messages=SIMPLE,
            temperature=0.2,
            extra_body={"vendor_option": {"top_k": 5}, "repetition_penalty": 1.1},
        )
    sent = small[0].requests[-1]
    assert sent["vendor_option"] == {"top_k": 5}
    assert sent["repetition_penalty"] == 1.1
    assert sent["temperature"] == 0.2


def test_client_request_id_is_kept_and_forwarded_when_trusted(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with router(tmp_path, large, small, "--trust-request-id") as r:
        raw = r.openai().chat.completions.with_raw_response.create(
            model="hybrid", messages=SIMPLE, extra_headers={"x-request-id": "abc-123"}
        )
    assert raw.headers["x-hybridroute-request-id"] == "abc-123"
    assert small[0].headers[-1]["x-request-id"] == "abc-123"


def test_client_request_id_is_ignored_by_default(tmp_path: Path, large: Any, small: Any) -> None:
    with router(tmp_path, large, small) as r:
        client = r.openai()
        ids = [
            client.chat.completions.with_raw_response.create(
                model="hybrid", messages=SIMPLE, extra_headers={"x-request-id": "abc-123"}
            ).headers["x-hybridroute-request-id"]
            for _ in range(2)
        ]
    assert "abc-123" not in ids
    assert ids[0] != ids[1]
    assert small[0].headers[-1]["x-request-id"] == ids[1]


def test_tier_header_is_ignored_unless_the_policy_trusts_it(
    tmp_path: Path, large: Any, small: Any
) -> None:
    tiers = {"header": "x-hybridroute-tier", "trustHeader": False}
    with router(tmp_path, large, small, tiers=tiers) as r:
        raw = r.openai().chat.completions.with_raw_response.create(
            model="hybrid", messages=SIMPLE, extra_headers={"x-hybridroute-tier": "critical"}
        )
    assert raw.headers["x-hybridroute-reason"] == "complexity_below_threshold"
    trusted = {"header": "x-hybridroute-tier", "trustHeader": True}
    with router(tmp_path, large, small, tiers=trusted) as r:
        raw = r.openai().chat.completions.with_raw_response.create(
            model="hybrid", messages=SIMPLE, extra_headers={"x-hybridroute-tier": "critical"}
        )
    assert raw.headers["x-hybridroute-reason"] == "tier_large"


def test_api_key_tier_sends_critical_clients_to_large(
    tmp_path: Path, large: Any, small: Any
) -> None:
    digest = hashlib.sha256(b"sk-critical-client").hexdigest()
    with router(tmp_path, large, small, tiers={"apiKeySha256": {digest: "critical"}}) as r:
        raw = r.openai(api_key="sk-critical-client").chat.completions.with_raw_response.create(
            model="hybrid", messages=SIMPLE
        )
        other = r.openai(api_key="sk-someone-else").chat.completions.with_raw_response.create(
            model="hybrid", messages=SIMPLE
        )
    assert raw.headers["x-hybridroute-reason"] == "tier_large"
    assert other.headers["x-hybridroute-reason"] == "complexity_below_threshold"
    # The client's key is never forwarded upstream.
    assert all("authorization" not in h for h in large[0].headers + small[0].headers)


def test_explain_returns_the_decision_without_calling_any_model(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with router(tmp_path, large, small) as r:
        resp = httpx.post(
            f"{r.url}/v1/chat/completions",
            headers={"x-hybridroute-explain": "1"},
            json={"model": "hybrid", "messages": [{"role": "user", "content": HARD}]},
        )
        endpoint = httpx.post(
            f"{r.url}/v1/route/explain", json={"model": "hybrid", "prompt": "hello"}
        )
    assert resp.status_code == 200
    info = resp.json()
    assert info["decision"]["target"] == "large"
    assert info["decision"]["reason"] == "complexity_above_threshold"
    assert info["decision"]["score"] >= info["decision"]["threshold"]
    assert info["features"]["has_code"] is True
    assert resp.headers["x-hybridroute-reason"] == "complexity_above_threshold"
    assert endpoint.json()["decision"]["target"] == "small"
    assert large[0].requests == []
    assert small[0].requests == []


def test_bad_json_is_a_400_with_an_openai_error_body(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with router(tmp_path, large, small) as r:
        resp = httpx.post(
            f"{r.url}/v1/chat/completions",
            content=b"{nope",
            headers={"content-type": "application/json"},
        )
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_a_404_the_sdk_understands(tmp_path: Path, large: Any, small: Any) -> None:
    with router(tmp_path, large, small) as r, pytest.raises(openai.NotFoundError) as info:
        r.openai().chat.completions.create(model="gpt-unknown", messages=SIMPLE)
    assert info.value.code == "model_not_found"


def test_oversized_body_is_a_413(tmp_path: Path, large: Any, small: Any) -> None:
    with (
        router(tmp_path, large, small, limits={"maxBodyBytes": 2048}) as r,
        pytest.raises(openai.APIStatusError) as info,
    ):
        r.openai().chat.completions.create(
            model="hybrid", messages=[{"role": "user", "content": "x" * 5000}]
        )
    assert info.value.status_code == 413
    assert small[0].requests == []


def test_sheds_load_with_429_above_the_in_flight_limit(
    tmp_path: Path, large: Any, small: Any
) -> None:
    release = threading.Event()
    small[0].on_request = lambda _req: release.wait(10)
    with router(tmp_path, large, small, limits={"maxInFlight": 1}) as r:
        client = r.openai()
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.chat.completions.create, model="hybrid", messages=SIMPLE)
            deadline = time.monotonic() + 10
            while not small[0].requests and time.monotonic() < deadline:
                time.sleep(0.01)
            with pytest.raises(openai.RateLimitError):
                client.chat.completions.create(model="hybrid", messages=SIMPLE)
            release.set()
            assert first.result(timeout=10).choices[0].message.content == "small says Paris"


def explain(r: Any, content: str) -> dict[str, Any]:
    body = {"model": "hybrid", "messages": [{"role": "user", "content": content}]}
    decision: dict[str, Any] = httpx.post(f"{r.url}/v1/route/explain", json=body).json()["decision"]
    return decision


def test_health_readiness_and_metrics_endpoints(tmp_path: Path, large: Any, small: Any) -> None:
    from hybridroute_router.scorers.auto import AutoScorer
    from hybridroute_router.scorers.learned import load_default
    from hybridroute_router.scorers.registry import default_artifact_sha256

    exam = "Which gas is most abundant in air?\nA. Oxygen\nB. Nitrogen\nC. Argon\nAnswer:"
    with router(tmp_path, large, small) as r:  # no scorer in the policy: the default, auto
        r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        chat, question = explain(r, SIMPLE[0]["content"]), explain(r, exam)
        health = httpx.get(f"{r.url}/healthz")
        ready = httpx.get(f"{r.url}/readyz")
        metrics = httpx.get(f"{r.url}/metrics")
    assert health.status_code == 200
    assert ready.json()["scorer"] == "auto"
    assert ready.json()["scorer_fallback_reason"] is None
    assert len(ready.json()["policy"]) == 64
    text = metrics.text
    sha = default_artifact_sha256()
    assert (
        f'hybridroute_scorer_info{{artifact_sha256="{sha}",examples_sha256="",route="test",'
        'scorer="auto"} 1.0'
    ) in text
    # chat takes the heuristic branch (its score on the learned scale), an exam question
    # the shipped learned model
    auto = AutoScorer(load_default())
    assert set(chat["scores"]) == {"heuristic", "auto", "complexity"}
    assert chat["score"] == pytest.approx(auto.from_heuristic(chat["scores"]["heuristic"]))
    assert set(question["scores"]) == {"heuristic", "learned", "auto", "complexity"}
    assert question["score"] == question["scores"]["learned"]
    assert question["score"] == pytest.approx(auto.learned.score(exam))
    assert (
        'hybridroute_requests_total{code="200",model="small",reason="complexity_below_threshold",'
        'route="test",version="v1"} 1.0'
    ) in text
    assert 'hybridroute_policy_threshold{route="test"} 0.5' in text
    assert "hybridroute_router_overhead_seconds_bucket" in text


def test_a_client_leaving_mid_stream_releases_the_request_at_once_and_is_counted_as_499(
    tmp_path: Path, large: Any, small: Any
) -> None:
    gate = threading.Event()  # the upstream holds the rest of its stream
    small[0].gate = gate
    gauge = 'hybridroute_in_flight_requests{route="test"}'
    try:
        with router(tmp_path, large, small) as r:
            body = {"model": "hybrid", "messages": SIMPLE, "stream": True}
            with httpx.stream("POST", f"{r.url}/v1/chat/completions", json=body) as resp:
                lines = resp.iter_lines()  # keep a reference: dropping it closes the stream
                first = next(lines)
                assert first.startswith("data: ")
                assert f"{gauge} 1.0" in httpx.get(f"{r.url}/metrics").text
            # the client is gone while the upstream still holds its stream open
            wait_for(lambda: f"{gauge} 0.0" in httpx.get(f"{r.url}/metrics").text)
            assert not gate.is_set()
            text = metrics_with(r.url, 'hybridroute_requests_total{code="4')
            assert (
                'hybridroute_requests_total{code="499",model="small",'
                'reason="complexity_below_threshold",route="test",version="v1"} 1.0'
            ) in text
            assert 'code="599"' not in text
    finally:
        gate.set()


def test_models_retrieve_knows_only_the_public_model(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with router(tmp_path, large, small) as r:
        client = r.openai()
        assert client.models.retrieve("hybrid").id == "hybrid"
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("large-model")


def test_a_scorer_that_cannot_load_falls_back_to_the_heuristic_visibly(
    tmp_path: Path, large: Any, small: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as if the optional module (or onnxruntime under it) were not installed
    monkeypatch.setitem(sys.modules, "hybridroute_router.scorers.similarity", None)
    with router(tmp_path, large, small, complexity={"scorer": "similarity"}) as r:
        ready = httpx.get(f"{r.url}/readyz").json()
        raw = r.openai().chat.completions.with_raw_response.create(model="hybrid", messages=SIMPLE)
        metrics = httpx.get(f"{r.url}/metrics").text
    assert ready["scorer_requested"] == "similarity"
    assert ready["scorer"] == "heuristic"
    assert "unavailable" in ready["scorer_fallback_reason"]
    assert raw.headers["x-hybridroute-reason"] == "complexity_below_threshold"
    assert 'hybridroute_scorer_fallback{route="test",scorer="similarity"} 1.0' in metrics


def test_the_learned_scorer_decides_when_the_policy_selects_it(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with router(tmp_path, large, small, complexity={"scorer": "learned"}) as r:
        ready = httpx.get(f"{r.url}/readyz").json()
        info = httpx.post(
            f"{r.url}/v1/route/explain", json={"model": "hybrid", "messages": SIMPLE}
        ).json()
    assert ready["scorer"] == "learned"
    assert ready["scorer_fallback_reason"] is None
    scores = info["decision"]["scores"]
    assert set(scores) == {"heuristic", "learned", "complexity"}
    assert scores["complexity"] == scores["learned"] == info["decision"]["score"]


def test_versions_split_by_weight_stick_per_request_id_and_skip_unready_ones(
    tmp_path: Path, large: Any, small: Any
) -> None:
    canary = FakeUpstream("canary", answer="canary says Paris")
    with serving(canary) as c:
        doc = policy_doc(
            large[1], {"stable": small[1], "canary": c.url}, weights={"stable": 50, "canary": 50}
        )
        with router(tmp_path, large, small, "--trust-request-id") as r:
            r.write_policy(doc)
            client = r.openai()

            def version_for(rid: str) -> str:
                raw = client.chat.completions.with_raw_response.create(
                    model="hybrid", messages=SIMPLE, extra_headers={"x-request-id": rid}
                )
                return str(raw.headers["x-hybridroute-version"])

            wait_for(lambda: len(r.rt.state.small) == 2)
            seen = {f"req-{i}": version_for(f"req-{i}") for i in range(40)}
            again = {rid: version_for(rid) for rid in seen}
            assert seen == again  # sticky
            assert set(seen.values()) == {"stable", "canary"}  # both get traffic
            doc["small"]["versions"][1]["ready"] = False
            r.write_policy(doc)
            wait_for(lambda: not r.rt.state.policy.small.versions[1].ready)
            after = {version_for(f"late-{i}") for i in range(20)}
    assert after == {"stable"}
