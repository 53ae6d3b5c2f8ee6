"""The canary state machine (pure): ``decide(spec, previous, world, analysis, now)``.

One rollout at a time. The candidate is the newest known version that is newer than the
stable one and was not rolled back. A newer version that is *ready* replaces a candidate
under analysis (the analysis restarts at the first step); one that is not ready waits.
The candidate only ever gets traffic while it is ready. A rolled-back version stays out
until a newer version appears or a person retries (annotation ``canary.inferensys.io/
retry``). After the last step passes, the candidate takes 100% (Promoting) and, one
interval later, becomes the stable version; the old one stays in the policy at weight 0
for ``keepPreviousFor``.

The loop calls ``prepare`` first (it says whether an analysis is due and of whom), runs
the queries, then ``conclude``; ``decide`` is the two in one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hybridroute_operator.api.spec import CanarySpec, duration_seconds
from hybridroute_operator.canary.checks import FAIL, PASS, Analysis
from hybridroute_operator.canary.rollout import Phase, Rollout
from hybridroute_operator.controls import EventNote

ANNOTATION_PREFIX = "canary.inferensys.io/"
PROMOTE, ABORT, RETRY = (f"{ANNOTATION_PREFIX}{a}" for a in ("promote", "abort", "retry"))
DUE_FRACTION = 0.8  # an interval counts as elapsed at 80% (the scheduler's tick jitters)
SPEC_PAUSE = "spec.canary.paused"
INCONCLUSIVE_PAUSE = "InconclusiveLimit"


@dataclass(frozen=True)
class Version:
    """A small version the route knows, oldest first in ``World.versions``."""

    name: str
    ready: bool
    discovered: bool = False


@dataclass(frozen=True)
class Manual:
    """The manual-control annotations (values as written; None when absent)."""

    promote: str | None = None
    abort: str | None = None
    retry: str | None = None

    @staticmethod
    def from_annotations(annotations: Mapping[str, str]) -> Manual:
        def get(key: str) -> str | None:
            value = annotations.get(key)
            return value.strip() or None if isinstance(value, str) else None

        return Manual(promote=get(PROMOTE), abort=get(ABORT), retry=get(RETRY))


@dataclass(frozen=True)
class World:
    versions: tuple[Version, ...]  # oldest first: hand-listed in order, then discovered
    initial_stable: str  # the spec's highest-weight version (used when none is recorded)
    manual: Manual = Manual()


@dataclass(frozen=True)
class Decision:
    rollout: Rollout
    events: tuple[EventNote, ...] = ()
    analyse: bool = False  # prepare: an analysis of the candidate is due now
    promoted: bool = False
    rolled_back: bool = False
    rendered: tuple[str, ...] = field(default_factory=tuple)  # discovered names to render


def _index(world: World) -> dict[str, int]:
    return {v.name: i for i, v in enumerate(world.versions)}


def _ready(world: World, name: str | None) -> bool:
    return any(v.name == name and v.ready for v in world.versions)


def _start(r: Rollout, candidate: str, world: World, now: float, why: str) -> Rollout:
    ready = _ready(world, candidate)
    return r.with_(
        phase=Phase.PROGRESSING if ready else Phase.PENDING,
        candidate=candidate,
        step=0,
        failed_checks=0,
        inconclusive_checks=0,
        checks=(),
        paused_reason=None,
        step_start_time=now if ready else None,
        last_evaluation_time=None,
        last_transition_time=now,
        message=why,
    )


def _newest(r: Rollout, world: World, stable: str) -> str | None:
    index = _index(world)
    newer = [
        v.name
        for v in world.versions
        if index[v.name] > index[stable] and v.name not in r.rolled_back
    ]
    return newer[-1] if newer else None


def _housekeeping(r: Rollout, world: World, now: float) -> Rollout:
    """Forget versions that are gone; end the old stable's grace period."""
    names = set(_index(world))
    stable = r.stable if r.stable in names else world.initial_stable
    if stable != r.stable:
        r = Rollout(stable=stable, last_retry=r.last_retry, last_transition_time=now)
    r = r.with_(rolled_back=tuple(n for n in r.rolled_back if n in names))
    if r.previous is not None and (
        r.previous not in names or (r.previous_until is not None and now >= r.previous_until)
    ):
        r = r.with_(previous=None, previous_until=None)
    if r.candidate is not None and r.candidate not in names and r.phase != Phase.SUCCEEDED:
        r = r.with_(
            phase=Phase.IDLE,
            candidate=None,
            last_transition_time=now,
            message=f"candidate {r.candidate} is gone",
        )
    return r


def _manual(r: Rollout, world: World, now: float, events: list[EventNote]) -> Rollout:
    m = world.manual
    if m.retry is not None and m.retry != r.last_retry:
        r = r.with_(last_retry=m.retry)
        if r.candidate is not None and r.phase in (Phase.ROLLED_BACK, Phase.PAUSED):
            cand = r.candidate
            r = r.with_(rolled_back=tuple(n for n in r.rolled_back if n != cand))
            r = _start(r, cand, world, now, f"retry of {cand} asked ({RETRY}={m.retry})")
            events.append(EventNote("Normal", "CanaryRetried", r.message))
    active = r.phase in (Phase.PENDING, Phase.PROGRESSING, Phase.PROMOTING, Phase.PAUSED)
    if m.abort is not None and active and m.abort == r.candidate:
        return _roll_back(r, now, f"{r.candidate} aborted by {ABORT}", "Aborted", events)
    if (
        m.abort is not None
        and r.phase == Phase.SUCCEEDED
        and m.abort == r.stable
        and r.previous is not None
    ):
        bad, good = r.stable, r.previous
        message = f"promotion of {bad} rolled back by {ABORT}: {good} is stable again"
        events.append(EventNote("Warning", "RolledBack", message))
        return r.with_(
            phase=Phase.ROLLED_BACK,
            stable=good,
            candidate=bad,
            previous=None,
            previous_until=None,
            rolled_back=(*r.rolled_back, bad),
            last_transition_time=now,
            message=message,
        )
    promotable = active or (r.phase == Phase.ROLLED_BACK)
    if (
        m.promote is not None
        and promotable
        and m.promote == r.candidate
        and r.phase != Phase.PROMOTING
        and _ready(world, r.candidate)
    ):
        cand = r.candidate
        message = f"{cand} promoted by {PROMOTE}, skipping the remaining analysis"
        events.append(EventNote("Normal", "Promoting", message))
        return r.with_(
            phase=Phase.PROMOTING,
            rolled_back=tuple(n for n in r.rolled_back if n != cand),
            paused_reason=None,
            last_evaluation_time=now,
            last_transition_time=now,
            message=message,
        )
    return r


def _roll_back(
    r: Rollout, now: float, message: str, reason: str, events: list[EventNote]
) -> Rollout:
    events.append(EventNote("Warning", "RolledBack", f"{message} ({reason})"))
    assert r.candidate is not None
    return r.with_(
        phase=Phase.ROLLED_BACK,
        rolled_back=(*[n for n in r.rolled_back if n != r.candidate], r.candidate),
        paused_reason=None,
        last_transition_time=now,
        message=message,
    )


def _candidate(r: Rollout, world: World, now: float, events: list[EventNote]) -> Rollout:
    """Start, replace or keep the rollout's candidate."""
    assert r.stable is not None
    newest = _newest(r, world, r.stable)
    if newest is None or newest == r.candidate:
        if r.phase == Phase.PENDING and _ready(world, r.candidate):
            r = r.with_(phase=Phase.PROGRESSING, step_start_time=now, last_transition_time=now)
            r = r.with_(message=f"{r.candidate} is ready: analysing")
        return r
    busy = r.phase in (Phase.PENDING, Phase.PROGRESSING, Phase.PROMOTING, Phase.PAUSED)
    if busy and r.candidate is not None:
        if not _ready(world, newest) and _ready(world, r.candidate):
            return r  # the newer version waits until it is ready
        message = f"{newest} replaces {r.candidate} under analysis: the analysis restarts"
        events.append(EventNote("Normal", "CandidateReplaced", message))
        return _start(r, newest, world, now, message)
    message = f"new version {newest}: canary analysis starts"
    events.append(EventNote("Normal", "CanaryStarted", message))
    return _start(r, newest, world, now, message)


def _pause(spec: CanarySpec, r: Rollout, world: World, now: float) -> Rollout:
    if spec.paused and r.phase in (Phase.PENDING, Phase.PROGRESSING):
        return r.with_(
            phase=Phase.PAUSED,
            paused_reason=SPEC_PAUSE,
            last_transition_time=now,
            message=f"paused by {SPEC_PAUSE} at step {r.step + 1}",
        )
    if not spec.paused and r.phase == Phase.PAUSED and r.paused_reason == SPEC_PAUSE:
        ready = _ready(world, r.candidate)
        return r.with_(
            phase=Phase.PROGRESSING if ready else Phase.PENDING,
            paused_reason=None,
            step_start_time=now if ready else None,
            last_transition_time=now,
            message=f"resumed at step {r.step + 1}",
        )
    return r


def _weights(spec: CanarySpec, r: Rollout, world: World) -> Rollout:
    """The weights that follow from the phase; a candidate that is not ready gets 0."""
    assert r.stable is not None
    weight = 0
    if _ready(world, r.candidate):
        if r.phase in (Phase.PROGRESSING, Phase.PAUSED):
            weight = spec.step_weights[min(r.step, len(spec.step_weights) - 1)]
        elif r.phase == Phase.PROMOTING:
            weight = 100
    rendered = _rendered(r, world)
    weights = {v.name: 0 for v in world.versions if not v.discovered or v.name in rendered}
    weights[r.stable] = 100 - weight
    if weight and r.candidate is not None:
        weights[r.candidate] = weight
    return r.with_(weight=weight, weights=weights)


def _rendered(r: Rollout, world: World) -> tuple[str, ...]:
    """The discovered versions the route keeps (Services, policy entries): the stable,
    the candidate unless rolled back, and the old stable during its grace period."""
    keep = {r.stable, r.previous}
    if r.candidate is not None and r.candidate not in r.rolled_back:
        keep.add(r.candidate)
    return tuple(v.name for v in world.versions if v.discovered and v.name in keep)


def prepare(spec: CanarySpec, previous: Rollout, world: World, now: float) -> Decision:
    """Everything but the analysis: versions found or gone, manual control, pause."""
    events: list[EventNote] = []
    r = _housekeeping(previous, world, now)
    r = _manual(r, world, now, events)
    if r.phase != Phase.PROMOTING:
        r = _candidate(r, world, now, events)
    r = _pause(spec, r, world, now)
    r = _weights(spec, r, world)
    due = _due(spec, r, world, now)
    return Decision(r, tuple(events), analyse=due, rendered=_rendered(r, world))


def _due(spec: CanarySpec, r: Rollout, world: World, now: float) -> bool:
    if r.phase not in (Phase.PROGRESSING, Phase.PROMOTING) or not _ready(world, r.candidate):
        return False
    interval = duration_seconds(spec.interval) * DUE_FRACTION
    since = [t for t in (r.last_evaluation_time, r.step_start_time) if t is not None]
    return not since or now - max(since) >= interval


def conclude(
    spec: CanarySpec, prepared: Decision, world: World, analysis: Analysis | None, now: float
) -> Decision:
    """The prepared decision with a due analysis applied (promotion confirmed, a step
    advanced, a failure counted or a rollback)."""
    r, events = prepared.rollout, list(prepared.events)
    if not prepared.analyse:
        return prepared
    promoted = rolled_back = False
    if r.phase == Phase.PROMOTING:
        r, promoted = _promote(spec, r, now, events), True
    elif analysis is not None:
        r = _analysed(spec, r, analysis, now, events)
        rolled_back = r.phase == Phase.ROLLED_BACK
    r = _weights(spec, r, world)
    return Decision(
        r,
        tuple(events),
        analyse=False,
        promoted=promoted,
        rolled_back=rolled_back,
        rendered=_rendered(r, world),
    )


def _promote(spec: CanarySpec, r: Rollout, now: float, events: list[EventNote]) -> Rollout:
    assert r.candidate is not None
    keep = duration_seconds(spec.keep_previous_for)
    message = (
        f"{r.candidate} promoted: 100% of small traffic; {r.stable} kept at 0 until "
        f"{keep:g}s from now"
    )
    events.append(EventNote("Normal", "Promoted", message))
    return r.with_(
        phase=Phase.SUCCEEDED,
        stable=r.candidate,
        candidate=None,
        previous=r.stable,
        previous_until=now + keep,
        step=0,
        failed_checks=0,
        inconclusive_checks=0,
        last_evaluation_time=now,
        last_transition_time=now,
        message=message,
    )


def _analysed(
    spec: CanarySpec, r: Rollout, a: Analysis, now: float, events: list[EventNote]
) -> Rollout:
    steps = spec.step_weights
    r = r.with_(checks=a.checks, last_evaluation_time=now)
    shown = "; ".join(c.describe() for c in (a.deciding() or a.checks))
    at = f"at {steps[r.step]}% (step {r.step + 1}/{len(steps)})"
    if a.outcome == PASS:
        if r.step + 1 < len(steps):
            message = f"{r.candidate} passed {at}: {shown}; now {steps[r.step + 1]}%"
            events.append(EventNote("Normal", "StepAdvanced", message))
            return r.with_(
                step=r.step + 1,
                inconclusive_checks=0,
                step_start_time=now,
                last_transition_time=now,
                message=message,
            )
        message = f"{r.candidate} passed every step ({shown}): promoting to 100%"
        events.append(EventNote("Normal", "Promoting", message))
        return r.with_(
            phase=Phase.PROMOTING, inconclusive_checks=0, last_transition_time=now, message=message
        )
    if a.outcome == FAIL:
        failed = r.failed_checks + 1
        r = r.with_(failed_checks=failed, inconclusive_checks=0)
        message = f"{r.candidate} failed analysis {failed}/{spec.failure_limit} {at}: {shown}"
        if failed >= spec.failure_limit:
            return _roll_back(r, now, message, "FailureLimit", events)
        events.append(EventNote("Warning", "AnalysisFailed", message))
        return r.with_(message=message)
    count = r.inconclusive_checks + 1
    limit = spec.inconclusive_limit
    message = f"{r.candidate} inconclusive {at} ({count} in a row): {shown}"
    if limit is not None and count >= limit:
        message = f"{message}; paused after {limit} (retry or promote by annotation)"
        events.append(EventNote("Warning", "CanaryPaused", message))
        return r.with_(
            phase=Phase.PAUSED,
            paused_reason=INCONCLUSIVE_PAUSE,
            inconclusive_checks=count,
            last_transition_time=now,
            message=message,
        )
    if count == 1:
        events.append(EventNote("Normal", "AnalysisInconclusive", message))
    return r.with_(inconclusive_checks=count, message=message)


def decide(
    spec: CanarySpec, previous: Rollout, world: World, analysis: Analysis | None, now: float
) -> Decision:
    """``prepare`` then ``conclude``: ``analysis`` is used only when one is due."""
    return conclude(spec, prepare(spec, previous, world, now), world, analysis, now)
