"""Energy per request and what answering small saved against all-large, from a real router
with OpenAI-compatible test servers on loopback (docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from router_harness import FakeUpstream, fake_upstream, metrics_with, policy_doc, running_router

pytestmark = pytest.mark.integration

SIMPLE = [{"role": "user", "content": "What is the capital of France?"}]
# policy_doc's prices: large 0.01/0.03 USD and 3000 J per 1K tokens, small 0.001/0.002 and 300
LARGE_USD = (0.01, 0.03)
SMALL_USD = (0.001, 0.002)
LARGE_J, SMALL_J = 3000, 300


@pytest.fixture
def small() -> Iterator[tuple[FakeUpstream, str]]:
    with fake_upstream("small", "small answer here") as pair:
        yield pair


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> Any:
    return found.get((name, frozenset(labels.items())))


def test_a_small_answer_records_its_energy_and_what_it_saved_against_large(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with running_router(policy_doc(large[1], {"v1": small[1]}), tmp_path) as r:
        for _ in range(2):
            r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        found = samples(httpx.get(f"{r.url}/metrics").text)
    # the small server reports 10 prompt and 3 completion tokens per answer
    prompt, completion = 10, 3
    per_request = (prompt + completion) * SMALL_J / 1000
    hist = "hybridroute_request_energy_joules"
    assert value(found, f"{hist}_count", route="test", model="small") == 2
    assert value(found, f"{hist}_sum", route="test", model="small") == pytest.approx(
        2 * per_request
    )
    assert value(found, f"{hist}_bucket", route="test", model="small", le="5.0") == 2
    assert value(found, f"{hist}_bucket", route="test", model="small", le="1.0") == 0
    usd_saved = (
        prompt * (LARGE_USD[0] - SMALL_USD[0]) + completion * (LARGE_USD[1] - SMALL_USD[1])
    ) / 1000
    joules_saved = (prompt + completion) * (LARGE_J - SMALL_J) / 1000
    assert value(
        found, "hybridroute_cost_saved_usd_total", route="test", version="v1"
    ) == pytest.approx(2 * usd_saved)
    assert value(
        found, "hybridroute_energy_saved_joules_total", route="test", version="v1"
    ) == pytest.approx(2 * joules_saved)


def test_an_escalated_request_counts_both_answers_energy_and_saves_nothing(
    tmp_path: Path, large: Any, small: Any
) -> None:
    small[0].logprob = -2.0  # not confident: the cascade escalates to the large model
    doc = policy_doc(
        large[1], {"v1": small[1]}, confidence={"enabled": True, "minMeanLogprob": -0.5}
    )
    with running_router(doc, tmp_path) as r:
        r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        found = samples(metrics_with(r.url, "hybridroute_request_energy_joules_count"))
    # both servers report 10 prompt tokens; "small answer here" 3 words, "large answer" 2
    joules = (10 + 3) * SMALL_J / 1000 + (10 + 2) * LARGE_J / 1000
    hist = "hybridroute_request_energy_joules"
    assert value(found, f"{hist}_count", route="test", model="large") == 1
    assert value(found, f"{hist}_sum", route="test", model="large") == pytest.approx(joules)
    assert value(found, f"{hist}_count", route="test", model="small") is None
    assert value(found, "hybridroute_cost_saved_usd_total", route="test", version="v1") is None
    assert value(found, "hybridroute_energy_saved_joules_total", route="test", version="v1") is None


def test_without_usage_from_the_upstream_no_energy_is_made_up(
    tmp_path: Path, large: Any, small: Any
) -> None:
    """A stream without stream_options.include_usage reports no tokens: nothing observed."""
    with running_router(policy_doc(large[1], {"v1": small[1]}), tmp_path) as r:
        list(r.openai().chat.completions.create(model="hybrid", messages=SIMPLE, stream=True))
        found = samples(metrics_with(r.url, 'hybridroute_requests_total{code="200"'))
    assert (
        value(found, "hybridroute_request_energy_joules_count", route="test", model="small") is None
    )
    assert value(found, "hybridroute_cost_saved_usd_total", route="test", version="v1") is None
