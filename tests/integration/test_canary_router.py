"""What the canary needs from the router, on real servers on loopback: a version's own
shadow share (the canary raises it for the candidate under analysis) and user feedback
scores per answering version."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from router_harness import FakeUpstream, fake_upstream, policy_doc, running_router, wait_for

pytestmark = pytest.mark.integration

ASK = {"model": "hybrid", "messages": [{"role": "user", "content": "What is 2 + 2?"}]}


@pytest.fixture
def upstreams() -> Iterator[dict[str, tuple[FakeUpstream, str]]]:
    with (
        fake_upstream("large", "Four.") as large,
        fake_upstream("v1", "Four.") as v1,
        fake_upstream("v2", "Four.") as v2,
    ):
        yield {"large": large, "v1": v1, "v2": v2}


def series(url: str, name: str, version: str, extra: str = "") -> float:
    text = httpx.get(f"{url}/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and f'version="{version}"' in line and extra in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def doc(ups: dict[str, Any]) -> dict[str, Any]:
    d = policy_doc(
        ups["large"][1],
        {"v1": ups["v1"][1], "v2": ups["v2"][1]},
        weights={"v1": 50, "v2": 50},
        complexity={"threshold": 1.0},
        shadow={"percent": 0, "comparator": "exact"},
    )
    d["small"]["versions"][1]["shadowPercent"] = 100  # v2 is the canary under analysis
    return d


def test_only_the_version_with_its_own_shadow_share_is_shadowed(
    upstreams: dict[str, Any], tmp_path: Path
) -> None:
    with running_router(doc(upstreams), tmp_path) as router:
        for _ in range(40):
            assert httpx.post(f"{router.url}/v1/chat/completions", json=ASK).status_code == 200
        v2_requests = series(router.url, "hybridroute_requests_total", "v2")
        assert v2_requests > 0
        agreed = wait_for(
            lambda: (
                series(router.url, "hybridroute_shadow_comparisons_total", "v2", "agree")
                >= v2_requests
                and series(router.url, "hybridroute_shadow_comparisons_total", "v2", "agree")
            )
        )
        assert agreed == v2_requests  # every v2 answer compared with the large model
        assert series(router.url, "hybridroute_shadow_comparisons_total", "v1") == 0


def test_feedback_scores_are_counted_per_answering_version(
    upstreams: dict[str, Any], tmp_path: Path
) -> None:
    with running_router(doc(upstreams), tmp_path) as router:
        by_version: dict[str, list[str]] = {"v1": [], "v2": []}
        while min(len(ids) for ids in by_version.values()) < 2:
            r = httpx.post(f"{router.url}/v1/chat/completions", json=ASK)
            by_version[r.headers["x-hybridroute-version"]].append(
                r.headers["x-hybridroute-request-id"]
            )
        for version, score in (("v1", 1.0), ("v2", 0.25)):
            for rid in by_version[version][:2]:
                body = {"request_id": rid, "score": score}
                assert httpx.post(f"{router.url}/v1/feedback", json=body).status_code == 202
        assert series(router.url, "hybridroute_feedback_score_count", "v1") == 2
        assert series(router.url, "hybridroute_feedback_score_sum", "v1") == 2.0
        assert series(router.url, "hybridroute_feedback_score_sum", "v2") == 0.5
        text = httpx.get(f"{router.url}/metrics").text
        assert re.search(
            r'hybridroute_feedback_score_bucket\{le="0.3",route="test",version="v2"\} 2', text
        )
