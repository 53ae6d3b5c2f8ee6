"""The router's own guard for spikes shorter than load adaptation's interval: with
limits.maxLargeInFlight requests in flight to the large model, a request the complexity
score would send large goes small (reason large_in_flight_cap, metered); a tier forced
to large still goes large. Real router app, real HTTP upstreams on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from router_harness import (
    FakeUpstream,
    metrics_with,
    policy_doc,
    running_router,
    serving,
    wait_for,
)

pytestmark = pytest.mark.integration
HARD = "Explain step by step how to prove that the sum of 1..n is n(n+1)/2"


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeUpstream, str, str]]:
    large = FakeUpstream("large", answer="large answer", delay=1.5)
    small = FakeUpstream("small", answer="small answer")
    with serving(large) as ls, serving(small) as ss:
        yield large, ls.url, ss.url


def ask(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "hybrid", "messages": [{"role": "user", "content": HARD}]},
        headers=headers or {},
        timeout=30,
    )


def test_over_the_cap_what_may_go_small_goes_small_and_forced_tiers_stay_large(
    upstreams: tuple[FakeUpstream, str, str], tmp_path: Path
) -> None:
    large, large_url, small_url = upstreams
    doc: dict[str, Any] = policy_doc(
        large_url,
        {"v1": small_url},
        complexity={"threshold": 0.2},
        limits={"maxLargeInFlight": 1},
        tiers={"header": "x-hybridroute-tier", "trustHeader": True},
    )
    with running_router(doc, tmp_path) as router:
        first: list[httpx.Response] = []
        worker = threading.Thread(target=lambda: first.append(ask(router.url)))
        worker.start()
        wait_for(lambda: len(large.requests) == 1, timeout=10)  # one in flight to large
        capped = [ask(router.url) for _ in range(2)]
        critical = ask(router.url, {"x-hybridroute-tier": "critical"})
        worker.join(timeout=30)
        assert first[0].headers["x-hybridroute-reason"] == "complexity_above_threshold"
        for response in capped:
            assert response.status_code == 200
            assert response.headers["x-hybridroute-reason"] == "large_in_flight_cap"
            assert response.json()["choices"][0]["message"]["content"] == "small answer"
        assert critical.headers["x-hybridroute-reason"] == "tier_large"
        assert critical.json()["choices"][0]["message"]["content"] == "large answer"
        text = metrics_with(router.url, 'reason="large_in_flight_cap"')
        line = next(
            ln
            for ln in text.splitlines()
            if ln.startswith("hybridroute_requests_total{") and "large_in_flight_cap" in ln
        )
        assert line.endswith(" 2.0") or line.endswith(" 2"), line
        after = ask(router.url)  # nothing in flight any more: large again
        assert after.headers["x-hybridroute-reason"] == "complexity_above_threshold"
