"""Failure semantics against real upstream servers that fail in each way: errors,
refused connections, timeouts, rate limits, broken streams; retries and breakers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from router_harness import (
    policy_doc,
    running_router,
    wait_for,
)

pytestmark = pytest.mark.integration

SIMPLE = [{"role": "user", "content": "What is the capital of France?"}]
HARD = [
    {
        "role": "user",
        "content": "Step by step, write a Python class: def f(x): return x "
        "and solve the equation 3 * 4 = x. Why? How? What else?",
    }
]


_HELD: list[socket.socket] = []


def closed_port_url() -> str:
    """A loopback port that refuses connections: bound, never listening, and held until
    the module ends so no other process can take it meanwhile."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _HELD.append(s)
    return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(scope="module", autouse=True)
def _release_held_ports() -> Iterator[None]:
    yield
    while _HELD:
        _HELD.pop().close()


def doc(large_url: str, small_url: str, **sections: Any) -> dict[str, Any]:
    sections.setdefault("retries", {"attempts": 1})
    return policy_doc(large_url, {"v1": small_url}, **sections)


def ask(r: Any, messages: list[dict[str, str]] = SIMPLE) -> Any:
    return r.openai().chat.completions.with_raw_response.create(model="hybrid", messages=messages)


def test_small_server_error_falls_back_to_large(tmp_path: Path, large: Any, small: Any) -> None:
    small[0].status = 500
    with running_router(doc(large[1], small[1]), tmp_path) as r:
        raw = ask(r)
        metrics = httpx.get(f"{r.url}/metrics").text
    assert raw.parse().choices[0].message.content == "large answer"
    assert raw.headers["x-hybridroute-reason"] == "fallback_small_to_large"
    assert "x-hybridroute-degraded" not in raw.headers
    assert (
        'hybridroute_fallbacks_total{from_model="small",route="test",to_model="large"} 1.0'
        in metrics
    )


def test_large_failure_falls_back_to_small_marked_degraded(
    tmp_path: Path, large: Any, small: Any
) -> None:
    large[0].status = 503
    with running_router(doc(large[1], small[1]), tmp_path) as r:
        raw = ask(r, HARD)
    assert raw.parse().choices[0].message.content == "small answer"
    assert raw.headers["x-hybridroute-reason"] == "fallback_large_to_small"
    assert raw.headers["x-hybridroute-degraded"] == "true"


def test_refused_connection_falls_back(tmp_path: Path, large: Any) -> None:
    with running_router(doc(large[1], closed_port_url()), tmp_path) as r:
        raw = ask(r)
    assert raw.parse().choices[0].message.content == "large answer"
    assert raw.headers["x-hybridroute-reason"] == "fallback_small_to_large"


def test_slow_small_times_out_and_falls_back(tmp_path: Path, large: Any, small: Any) -> None:
    small[0].delay = 3.0
    d = doc(large[1], small[1])
    d["small"]["versions"][0]["upstream"]["timeouts"]["readSeconds"] = 0.3
    with running_router(d, tmp_path) as r:
        raw = ask(r)
    assert raw.parse().choices[0].message.content == "large answer"


def test_every_upstream_timing_out_is_a_504(tmp_path: Path, large: Any, small: Any) -> None:
    small[0].delay = large[0].delay = 3.0
    d = doc(large[1], small[1])
    d["small"]["versions"][0]["upstream"]["timeouts"]["readSeconds"] = 0.2
    d["large"]["upstream"]["timeouts"]["readSeconds"] = 0.2
    with running_router(d, tmp_path) as r, pytest.raises(openai.APIStatusError) as info:
        ask(r)
    assert info.value.status_code == 504
    assert info.value.body["type"] == "upstream_timeout"  # type: ignore[index]


def test_every_upstream_failing_is_a_502(tmp_path: Path, large: Any, small: Any) -> None:
    small[0].status = large[0].status = 500
    with (
        running_router(doc(large[1], small[1]), tmp_path) as r,
        pytest.raises(openai.InternalServerError) as info,
    ):
        ask(r)
    assert info.value.status_code == 502


def test_rate_limited_upstream_falls_back_to_the_other_model(
    tmp_path: Path, large: Any, small: Any
) -> None:
    small[0].status = 429
    with running_router(doc(large[1], small[1]), tmp_path) as r:
        raw = ask(r)
    assert raw.headers["x-hybridroute-reason"] == "fallback_small_to_large"


def test_upstream_client_errors_are_passed_through_not_retried(
    tmp_path: Path, large: Any, small: Any
) -> None:
    small[0].status = 400
    with (
        running_router(doc(large[1], small[1]), tmp_path) as r,
        pytest.raises(openai.BadRequestError),
    ):
        ask(r)
    assert len(small[0].requests) == 1
    assert large[0].requests == []


def test_a_failed_attempt_is_retried_on_the_same_upstream(
    tmp_path: Path, large: Any, small: Any
) -> None:
    small[0].status = 502

    def recover(_req: dict[str, Any]) -> None:
        if len(small[0].requests) >= 2:
            small[0].status = 200

    small[0].on_request = recover
    with running_router(doc(large[1], small[1], retries={"attempts": 2}), tmp_path) as r:
        raw = ask(r)
    assert raw.parse().choices[0].message.content == "small answer"
    assert raw.headers["x-hybridroute-reason"] == "complexity_below_threshold"
    assert len(small[0].requests) == 2
    assert large[0].requests == []


def test_open_circuit_stops_calls_to_a_failing_upstream(
    tmp_path: Path, large: Any, small: Any
) -> None:
    small[0].status = 500
    d = doc(large[1], small[1], circuitBreaker={"failureThreshold": 2, "openSeconds": 60})
    with running_router(d, tmp_path) as r:
        for _ in range(2):
            assert ask(r).headers["x-hybridroute-reason"] == "fallback_small_to_large"
        calls = len(small[0].requests)
        raw = ask(r)
    assert raw.headers["x-hybridroute-reason"] == "no_small_version_ready"
    assert len(small[0].requests) == calls == 2


def test_every_circuit_open_is_a_503(tmp_path: Path) -> None:
    d = doc(
        closed_port_url(),
        closed_port_url(),
        circuitBreaker={"failureThreshold": 1, "openSeconds": 60},
    )
    with running_router(d, tmp_path) as r:
        with pytest.raises(openai.InternalServerError) as first:
            ask(r)
        assert first.value.status_code == 502
        with pytest.raises(openai.InternalServerError) as second:
            ask(r)
    assert second.value.status_code == 503


def test_a_stream_broken_mid_way_ends_with_an_error_the_sdk_raises(
    tmp_path: Path, large: Any, small: Any
) -> None:
    small[0].answer = "one two three four"
    small[0].fail_after_chunks = 2
    received = []
    with running_router(doc(large[1], small[1]), tmp_path) as r, r.openai() as client:
        stream = client.chat.completions.create(model="hybrid", messages=SIMPLE, stream=True)
        chunks = iter(stream)
        with stream:
            received.append(next(chunks).choices[0].delta.content)
            received.append(next(chunks).choices[0].delta.content)
            with pytest.raises(openai.APIError):
                next(chunks)
    assert received == ["one", " two"]


def test_stream_falls_back_before_the_first_byte(tmp_path: Path, large: Any, small: Any) -> None:
    small[0].status = 500
    with running_router(doc(large[1], small[1]), tmp_path) as r:
        stream = r.openai().chat.completions.create(model="hybrid", messages=SIMPLE, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text == "large answer"


def test_a_recovered_upstream_closes_its_circuit_after_a_probe(
    tmp_path: Path, large: Any, small: Any
) -> None:
    small[0].status = 500
    gauge = 'hybridroute_upstream_circuit_open{model="small",route="test",version="v1"}'
    d = doc(large[1], small[1], circuitBreaker={"failureThreshold": 1, "openSeconds": 0.3})
    with running_router(d, tmp_path) as r:
        assert ask(r).headers["x-hybridroute-reason"] == "fallback_small_to_large"
        assert f"{gauge} 1.0" in httpx.get(f"{r.url}/metrics").text
        small[0].status = 200
        # once the open period is over, a request probes the small model again
        wait_for(lambda: ask(r).headers["x-hybridroute-reason"] == "complexity_below_threshold")
        assert f"{gauge} 0.0" in httpx.get(f"{r.url}/metrics").text


def test_a_full_connection_pool_sends_the_overflow_to_the_other_model(
    tmp_path: Path, large: Any, small: Any
) -> None:
    release = threading.Event()
    small[0].on_request = lambda _req: release.wait(10)  # holds its one connection
    d = doc(large[1], small[1])
    up = d["small"]["versions"][0]["upstream"]
    up["maxConnections"] = 1
    up["timeouts"]["connectSeconds"] = 0.2  # also the wait for a free pooled connection
    try:
        with running_router(d, tmp_path) as r, ThreadPoolExecutor(1) as pool:
            first = pool.submit(ask, r)
            wait_for(lambda: len(small[0].requests) == 1)
            overflow = ask(r)
            release.set()
            assert first.result(timeout=10).headers["x-hybridroute-version"] == "v1"
    finally:
        release.set()
    assert overflow.headers["x-hybridroute-reason"] == "fallback_small_to_large"
    assert len(small[0].requests) == 1
