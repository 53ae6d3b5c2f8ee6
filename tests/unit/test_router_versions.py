"""Which small version takes a request (pure): by weight among the ready versions without
an open circuit; a version at weight 0 (a rolled-back candidate, the previous stable kept
for a manual rollback, a discovered version not yet analysed) never takes one."""

from __future__ import annotations

import pytest
from hybridroute_policy import (
    LargeModel,
    Policy,
    SmallModel,
    SmallVersion,
    Upstream,
)
from hybridroute_router.decision.decide import Signals, decide
from hybridroute_router.decision.reasons import Reason
from hybridroute_router.decision.versions import choose_version
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit
UP = Upstream(base_url="http://x/v1", model="m")
BUCKETS = range(0, 10_000, 97)


def versions(*spec: tuple[str, int, bool]) -> list[SmallVersion]:
    return [SmallVersion(name=n, weight=w, ready=r, upstream=UP) for n, w, r in spec]


def test_a_rolled_back_version_gets_nothing_when_the_stable_is_not_ready() -> None:
    vs = versions(("stable", 100, False), ("rolled-back", 0, True))
    assert {choose_version(vs, b) for b in BUCKETS} == {None}


def test_a_weight_zero_version_gets_nothing_when_the_stable_circuit_is_open() -> None:
    vs = versions(("stable", 100, True), ("previous", 0, True))
    assert {choose_version(vs, b, unavailable={"stable"}) for b in BUCKETS} == {None}


def test_the_remaining_weighted_versions_share_the_traffic() -> None:
    vs = versions(("stable", 90, False), ("canary", 10, True), ("previous", 0, True))
    assert {v.name for b in BUCKETS if (v := choose_version(vs, b))} == {"canary"}


def test_without_a_weighted_version_the_large_model_answers() -> None:
    policy = Policy(
        large=LargeModel(upstream=UP),
        small=SmallModel(versions=versions(("stable", 100, True), ("rolled-back", 0, True))),
    )
    d = decide(policy, Signals(score=0.0, unavailable_versions={"stable"}))
    assert (d.target, d.reason, d.version) == ("large", Reason.NO_SMALL_VERSION_READY, None)


@settings(deadline=None)  # no per-example time limit: a loaded box is slow
@given(
    spec=st.lists(st.tuples(st.integers(0, 100), st.booleans(), st.booleans()), max_size=5),
    bucket=st.integers(0, 9_999),
)
def test_only_a_ready_available_weighted_version_is_chosen_and_one_is_if_any(
    spec: list[tuple[int, bool, bool]], bucket: int
) -> None:
    vs = versions(*[(f"v{i}", w, ready) for i, (w, ready, _) in enumerate(spec)])
    down = {f"v{i}" for i, (_, _, open_circuit) in enumerate(spec) if open_circuit}
    chosen = choose_version(vs, bucket, down)
    eligible = [v for v in vs if v.ready and v.weight > 0 and v.name not in down]
    if eligible:
        assert chosen in eligible
    else:
        assert chosen is None
