"""The canary state machine, table-driven and by property: steps in order, rollback
within the failure limit, inconclusive never a pass, replacement, manual control, and
weights that always sum to 100 and never go to a version that is not ready."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hybridroute_operator.api.spec import CanarySpec
from hybridroute_operator.canary import (
    Analysis,
    CheckResult,
    Manual,
    Phase,
    Rollout,
    Version,
    World,
    conditions,
    decide,
    prepare,
)
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

SPEC = CanarySpec(interval="10s", step_weights=[5, 10, 25, 50], failure_limit=2)
PASSED = Analysis("pass", (CheckResult("errorRate", "pass", 0.0, 0.05, "<="),), 100)
FAILED = Analysis("fail", (CheckResult("errorRate", "fail", 0.4, 0.05, "<="),), 100)
UNSURE = Analysis("inconclusive", (CheckResult("requests", "inconclusive", 3, 50, ">="),), 3)


def world(*versions: tuple[str, bool], **manual: str) -> World:
    return World(
        versions=tuple(Version(n, ready, discovered=n != "v1") for n, ready in versions),
        initial_stable="v1",
        manual=Manual(**manual),
    )


V1_V2 = world(("v1", True), ("v2", True))


def run(
    spec: CanarySpec, w: World, analyses: list[Analysis | None], start: float = 1000.0
) -> list[Rollout]:
    """One decision per interval; returns the rollout after each."""
    r, out, now = Rollout(), [], start
    for a in analyses:
        r = decide(spec, r, w, a, now).rollout
        out.append(r)
        now += 10
    return out


def test_only_the_stable_version_is_idle_with_all_the_traffic() -> None:
    r = decide(SPEC, Rollout(), world(("v1", True)), None, 0).rollout
    assert (r.phase, r.stable, r.candidate, dict(r.weights)) == (
        Phase.IDLE,
        "v1",
        None,
        {"v1": 100},
    )


def test_a_good_candidate_goes_through_every_step_then_is_promoted() -> None:
    seen = run(SPEC, V1_V2, [None, PASSED, PASSED, PASSED, PASSED, None, None])
    assert [(r.phase, r.weight) for r in seen] == [
        (Phase.PROGRESSING, 5),
        (Phase.PROGRESSING, 10),
        (Phase.PROGRESSING, 25),
        (Phase.PROGRESSING, 50),
        (Phase.PROMOTING, 100),
        (Phase.SUCCEEDED, 0),
        (Phase.SUCCEEDED, 0),
    ]
    done = seen[-1]
    assert (done.stable, done.previous, dict(done.weights)) == (
        "v2",
        "v1",
        {"v1": 0, "v2": 100},
    )
    promoted = dict((c.type, c.ok) for c in conditions(done))
    assert promoted == {"Promoted": True, "CanaryProgressing": False}


def test_the_first_analysis_waits_one_interval_after_the_step_began() -> None:
    first = decide(SPEC, Rollout(), V1_V2, PASSED, 1000).rollout
    assert (first.step, first.weight) == (0, 5)  # the pass offered at once is not used
    early = decide(SPEC, first, V1_V2, PASSED, 1005)
    assert not early.events
    assert early.rollout.step == 0


def test_a_bad_candidate_is_rolled_back_at_the_failure_limit_naming_the_check() -> None:
    seen = run(SPEC, V1_V2, [None, FAILED, FAILED, None])
    assert [(r.phase, r.failed_checks, r.weight) for r in seen] == [
        (Phase.PROGRESSING, 0, 5),
        (Phase.PROGRESSING, 1, 5),
        (Phase.ROLLED_BACK, 2, 0),
        (Phase.ROLLED_BACK, 2, 0),
    ]
    r = seen[-1]
    assert dict(r.weights) == {"v1": 100}  # v2 is not rendered any more
    assert "errorRate 0.4 > 0.05" in r.message
    notes = {c.type: c for c in conditions(r)}
    assert notes["CanaryProgressing"].reason == "RolledBack"
    assert "errorRate" in notes["CanaryProgressing"].message


def test_rollback_emits_a_warning_event_with_the_deciding_values() -> None:
    r = run(SPEC, V1_V2, [None, FAILED])[-1]
    d = decide(SPEC, r, V1_V2, FAILED, 1030)
    assert d.rolled_back
    (event,) = d.events
    assert (event.type, event.reason) == ("Warning", "RolledBack")
    assert "errorRate 0.4 > 0.05" in event.message


def test_inconclusive_never_advances_and_pauses_at_the_limit() -> None:
    spec = replace_spec(inconclusive_limit=3)
    seen = run(spec, V1_V2, [None, UNSURE, UNSURE, UNSURE, PASSED])
    assert [(r.phase, r.step, r.inconclusive_checks) for r in seen] == [
        (Phase.PROGRESSING, 0, 0),
        (Phase.PROGRESSING, 0, 1),
        (Phase.PROGRESSING, 0, 2),
        (Phase.PAUSED, 0, 3),
        (Phase.PAUSED, 0, 3),  # a pass after the pause changes nothing: a person decides
    ]


def test_without_an_inconclusive_limit_it_keeps_waiting_for_data() -> None:
    seen = run(SPEC, V1_V2, [None, *[UNSURE] * 8])
    assert {(r.phase, r.step, r.weight) for r in seen} == {(Phase.PROGRESSING, 0, 5)}


def test_a_candidate_that_is_not_ready_waits_pending_without_traffic() -> None:
    w = world(("v1", True), ("v2", False))
    r = decide(SPEC, Rollout(), w, PASSED, 0).rollout
    assert (r.phase, r.candidate, dict(r.weights)) == (Phase.PENDING, "v2", {"v1": 100, "v2": 0})
    r = decide(SPEC, r, V1_V2, None, 10).rollout
    assert (r.phase, r.weight) == (Phase.PROGRESSING, 5)


def test_a_candidate_losing_readiness_mid_rollout_gets_no_traffic_and_keeps_its_step() -> None:
    r = run(SPEC, V1_V2, [None, PASSED])[-1]
    assert r.step == 1
    gone = decide(SPEC, r, world(("v1", True), ("v2", False)), PASSED, 2000).rollout
    assert (gone.step, gone.weight, dict(gone.weights)) == (1, 0, {"v1": 100, "v2": 0})
    back = decide(SPEC, gone, V1_V2, None, 2010).rollout
    assert (back.step, back.weight) == (1, 10)


def test_a_newer_ready_version_replaces_the_candidate_and_restarts_the_analysis() -> None:
    r = run(SPEC, V1_V2, [None, PASSED, FAILED])[-1]
    assert (r.step, r.failed_checks) == (1, 1)
    w3 = world(("v1", True), ("v2", True), ("v3", True))
    d = decide(SPEC, r, w3, None, 3000)
    assert (d.rollout.candidate, d.rollout.step, d.rollout.failed_checks) == ("v3", 0, 0)
    assert dict(d.rollout.weights) == {"v1": 95, "v3": 5}
    assert [e.reason for e in d.events] == ["CandidateReplaced"]


def test_a_newer_version_that_is_not_ready_waits_for_the_running_rollout() -> None:
    r = run(SPEC, V1_V2, [None, PASSED])[-1]
    w3 = world(("v1", True), ("v2", True), ("v3", False))
    d = decide(SPEC, r, w3, None, 3000)
    assert (d.rollout.candidate, d.rollout.step) == ("v2", 1)


def test_a_rolled_back_version_stays_out_until_a_newer_one_or_a_retry() -> None:
    r = run(SPEC, V1_V2, [None, FAILED, FAILED])[-1]
    again = decide(SPEC, r, V1_V2, PASSED, 5000).rollout
    assert (again.phase, again.candidate, again.weight) == (Phase.ROLLED_BACK, "v2", 0)
    retried = decide(SPEC, again, world(("v1", True), ("v2", True), retry="1"), None, 5010)
    assert (retried.rollout.phase, retried.rollout.weight) == (Phase.PROGRESSING, 5)
    assert retried.rollout.last_retry == "1"
    newer = decide(SPEC, again, world(("v1", True), ("v2", True), ("v3", True)), None, 5010)
    assert (newer.rollout.candidate, newer.rollout.weight) == ("v3", 5)


def test_the_same_retry_value_is_acted_on_once() -> None:
    r = run(SPEC, V1_V2, [None, FAILED, FAILED])[-1]
    w = world(("v1", True), ("v2", True), retry="a")
    r = decide(SPEC, r, w, None, 5000).rollout
    r = decide(SPEC, r, w, FAILED, 5010).rollout
    r = decide(SPEC, r, w, FAILED, 5020).rollout
    assert r.phase == Phase.ROLLED_BACK
    assert decide(SPEC, r, w, None, 5030).rollout.phase == Phase.ROLLED_BACK


def test_abort_rolls_back_and_promote_skips_the_remaining_steps() -> None:
    r = run(SPEC, V1_V2, [None])[-1]
    aborted = decide(SPEC, r, world(("v1", True), ("v2", True), abort="v2"), None, 2000)
    assert (aborted.rollout.phase, aborted.rollout.weight) == (Phase.ROLLED_BACK, 0)
    promoted = decide(SPEC, r, world(("v1", True), ("v2", True), promote="v2"), None, 2000)
    assert (promoted.rollout.phase, promoted.rollout.weight) == (Phase.PROMOTING, 100)
    done = decide(SPEC, promoted.rollout, V1_V2, None, 2010)
    assert (done.rollout.phase, done.rollout.stable, done.promoted) == (Phase.SUCCEEDED, "v2", True)


def test_abort_after_promotion_restores_the_previous_stable_while_it_is_kept() -> None:
    done = run(SPEC, V1_V2, [None, PASSED, PASSED, PASSED, PASSED, None])[-1]
    assert done.stable == "v2"
    back = decide(SPEC, done, world(("v1", True), ("v2", True), abort="v2"), None, 2000).rollout
    assert (back.phase, back.stable, dict(back.weights)) == (Phase.ROLLED_BACK, "v1", {"v1": 100})


def test_the_old_stable_is_dropped_after_keep_previous_for() -> None:
    spec = replace_spec(keep_previous_for="60s")
    done = run(spec, V1_V2, [None, PASSED, PASSED, PASSED, PASSED, None])[-1]
    assert done.previous == "v1"
    later = decide(spec, done, V1_V2, None, done.previous_until or 0).rollout
    assert later.previous is None
    assert later.weights["v1"] == 0  # listed by hand: stays in the policy until removed
    kept = Rollout(phase=Phase.SUCCEEDED, stable="v3", previous="v2", previous_until=100.0)
    w3 = world(("v1", True), ("v2", True), ("v3", True))
    assert decide(spec, kept, w3, None, 50).rendered == ("v2", "v3")
    dropped = decide(spec, kept, w3, None, 100)
    assert dropped.rendered == ("v3",)  # a discovered old stable: Service and entry pruned
    assert dict(dropped.rollout.weights) == {"v1": 0, "v3": 100}


def test_paused_holds_the_step_and_resuming_continues_from_it() -> None:
    r = run(SPEC, V1_V2, [None, PASSED])[-1]
    paused_spec = replace_spec(paused=True)
    p = decide(paused_spec, r, V1_V2, PASSED, 2000).rollout
    assert (p.phase, p.step, p.weight) == (Phase.PAUSED, 1, 10)
    p = decide(paused_spec, p, V1_V2, PASSED, 2100).rollout
    assert (p.phase, p.step) == (Phase.PAUSED, 1)
    resumed = decide(SPEC, p, V1_V2, PASSED, 2200).rollout
    assert (resumed.phase, resumed.step) == (Phase.PROGRESSING, 1)
    assert decide(SPEC, resumed, V1_V2, PASSED, 2210).rollout.step == 2


def test_status_round_trip_resumes_without_repeating_or_skipping_a_step() -> None:
    r = run(SPEC, V1_V2, [None, PASSED, PASSED])[-1]
    restored = Rollout.from_status(r.to_status())
    assert restored == r
    # an operator restarted right after the last analysis does not analyse again early
    d = prepare(SPEC, restored, V1_V2, (r.last_evaluation_time or 0) + 1)
    assert not d.analyse
    assert d.rollout.step == 2


def test_garbage_in_status_starts_over_from_idle() -> None:
    r = Rollout.from_status({"phase": "Dancing", "step": "three", "weights": {"v1": "x"}})
    assert (r.phase, r.step, dict(r.weights)) == (Phase.IDLE, 0, {})


def replace_spec(**changes: object) -> CanarySpec:
    return SPEC.model_copy(update=changes)


# -- properties -----------------------------------------------------------------------
analyses = st.sampled_from([PASSED, FAILED, UNSURE, None])
manuals = st.sampled_from(
    [Manual(), Manual(promote="v2"), Manual(abort="v2"), Manual(retry="r1"), Manual(promote="v3")]
)
steps_st = st.lists(st.integers(1, 100), min_size=1, max_size=6, unique=True).map(sorted)


@settings(max_examples=300, deadline=None)
@given(
    steps=steps_st,
    script=st.lists(
        st.tuples(analyses, manuals, st.booleans(), st.booleans(), st.booleans()),
        min_size=1,
        max_size=30,
    ),
)
def test_weights_sum_to_100_never_go_to_a_version_not_ready_and_no_step_is_skipped(
    steps: list[int], script: list[tuple[Analysis | None, Manual, bool, bool, bool]]
) -> None:
    spec = CanarySpec(interval="10s", step_weights=steps, failure_limit=2, inconclusive_limit=4)
    r, now = Rollout(), 0.0
    for analysis, manual, v2_ready, v3_there, paused in script:
        versions = [Version("v1", True), Version("v2", v2_ready, discovered=True)]
        if v3_there:
            versions.append(Version("v3", True, discovered=True))
        w = World(tuple(versions), "v1", manual)
        before = r
        r = decide(spec.model_copy(update={"paused": paused}), r, w, analysis, now).rollout
        now += 10
        assert sum(r.weights.values()) == 100
        # the stable version keeps the rest even when it is not ready (the router then
        # skips it); any other version gets traffic only while ready
        assert all(
            w_ == 0
            for name, w_ in r.weights.items()
            if name != r.stable and not _ready(versions, name)
        )
        assert set(r.weights) <= {v.name for v in versions}
        if r.candidate == before.candidate and r.phase == before.phase == Phase.PROGRESSING:
            assert r.step - before.step in (0, 1)  # never a step skipped
        if r.phase == Phase.PROGRESSING and r.weight:
            assert r.weight == steps[r.step]


def _ready(versions: list[Version], name: str) -> bool:
    return any(v.name == name and v.ready for v in versions)


@settings(max_examples=100, deadline=None)
@given(steps=steps_st, fails=st.integers(1, 5))
def test_consecutive_failures_roll_back_exactly_at_the_limit(steps: list[int], fails: int) -> None:
    spec = CanarySpec(interval="10s", step_weights=steps, failure_limit=fails)
    seen = run(spec, V1_V2, [None, *[FAILED] * fails])
    assert [r.phase for r in seen[:-1]] == [Phase.PROGRESSING] * fails
    assert seen[-1].phase == Phase.ROLLED_BACK


def test_checks_reported_in_status_keep_values_and_thresholds() -> None:
    r = run(SPEC, V1_V2, [None, FAILED])[-1]
    (check,) = r.to_status()["checks"]
    assert check == {
        "name": "errorRate",
        "result": "fail",
        "value": 0.4,
        "threshold": 0.05,
        "op": "<=",
    }
    assert replace(r, checks=()).to_status()["checks"] == []


def test_manual_control_is_read_from_the_canary_annotations() -> None:
    manual = Manual.from_annotations(
        {
            "canary.inferensys.io/promote": " v5 ",
            "canary.inferensys.io/abort": "",
            "canary.inferensys.io/retry": "2026-11-29",
            "other.io/promote": "v9",
        }
    )
    assert manual == Manual(promote="v5", abort=None, retry="2026-11-29")
