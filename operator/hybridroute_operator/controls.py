"""What the control loops decide, as it reaches the router: the spec in force (pure).

The load-adaptation and canary loops never rewrite ``spec`` (Argo CD and Flux must see
no drift). They write their decisions into ``status`` (``status.adaptation``,
``status.canary``), and every reconcile renders the policy from the spec *as adjusted
by status*. So status is the one place the loops' state lives: an operator restart or a
peering hand-over resumes from it, and the policy ConfigMap is always a function of
(spec, status, observed).

Contract of the status fields read here (written by the loops):

- ``status.adaptation.effectiveThreshold`` (number): the complexity threshold in force;
  used only while ``spec.adaptation`` is set, and clamped to [0, 1].
- ``status.canary.weights`` (``{version: percent}``): small-version weights in force;
  used only while ``spec.canary`` is set, and only when they are a valid split (every
  name a known version, integers 0..100 summing to 100); anything else is ignored and the
  spec's weights stay.
- ``status.canary.discovered`` (list of ``{name, selector, port}``): small versions found
  by the canary's label discovery, added to the spec's versions (a spec version of the
  same name wins).
- ``status.canary.shadowPercent`` (``{version: percent}``): the shadow share of a
  version under analysis; used only while ``spec.canary`` is set, for known versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from hybridroute_operator.api.spec import HybridRouteSpec, SmallVersionSpec


@dataclass(frozen=True)
class ConditionNote:
    """A condition a loop owns; the reconciler stamps generation and transition time."""

    type: str
    ok: bool
    reason: str
    message: str


@dataclass(frozen=True)
class EventNote:
    """An Event on the HybridRoute (``kubectl describe`` shows it)."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class LoopOutput:
    """``section`` goes to ``status.<loop name>`` (None removes it)."""

    section: Mapping[str, Any] | None
    conditions: tuple[ConditionNote, ...] = ()
    events: tuple[EventNote, ...] = ()


SIGNIFICANT_DIGITS = 3


def shown(value: float) -> float:
    """A measured value as status shows it: three significant digits (0.873, 41200.0),
    so a reading that moves only in digits nobody reads is no status write."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def since_last_change(
    section: Mapping[str, Any], previous: object, time_key: str
) -> dict[str, Any]:
    """``section`` with the ``previous`` section's ``time_key`` when both show the same
    apart from it: a loop's section is written only when what it shows changes (a status
    write per route and interval would churn etcd and every watcher), so its time is when
    it last changed, not when it was last evaluated."""
    out = dict(section)
    if not (isinstance(previous, Mapping) and time_key in out and time_key in previous):
        return out
    rest = {k: v for k, v in out.items() if k != time_key}
    if {k: v for k, v in previous.items() if k != time_key} == rest:
        out[time_key] = previous[time_key]
    return out


@dataclass(frozen=True)
class Controls:
    """Overrides of the spec the loops decided; empty means the spec as written."""

    threshold: float | None = None
    weights: Mapping[str, int] | None = None
    discovered: Sequence[SmallVersionSpec] = field(default_factory=tuple)
    shadow: Mapping[str, float] = field(default_factory=dict)


def _enabled(spec: HybridRouteSpec, section: str) -> bool:
    return getattr(spec, section, None) is not None


def _threshold(status: Mapping[str, Any]) -> float | None:
    value = (status.get("adaptation") or {}).get("effectiveThreshold")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return min(1.0, max(0.0, float(value)))


def _discovered(status: Mapping[str, Any], known: set[str]) -> list[SmallVersionSpec]:
    out = []
    for raw in (status.get("canary") or {}).get("discovered") or []:
        if not isinstance(raw, Mapping) or raw.get("name") in known:
            continue
        try:
            version = SmallVersionSpec.model_validate(
                {
                    "name": raw.get("name"),
                    "weight": 0,
                    "endpoint": {"selector": raw.get("selector"), "port": raw.get("port")},
                    **({"model": raw["model"]} if raw.get("model") else {}),
                }
            )
        except ValidationError:
            continue
        out.append(version)
        known.add(version.name)
    return out


def _weights(status: Mapping[str, Any], names: set[str]) -> dict[str, int] | None:
    raw = (status.get("canary") or {}).get("weights")
    if not isinstance(raw, Mapping) or not raw:
        return None
    weights: dict[str, int] = {}
    for name, weight in raw.items():
        if name not in names or isinstance(weight, bool) or not isinstance(weight, int):
            return None
        if not 0 <= weight <= 100:
            return None
        weights[str(name)] = weight
    if sum(weights.values()) != 100:
        return None
    return weights


def _shadow(status: Mapping[str, Any], names: set[str]) -> dict[str, float]:
    raw = (status.get("canary") or {}).get("shadowPercent")
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(name): min(100.0, max(0.0, float(value)))
        for name, value in raw.items()
        if name in names and isinstance(value, int | float) and not isinstance(value, bool)
    }


def controls_from_status(spec: HybridRouteSpec, status: Mapping[str, Any]) -> Controls:
    """The loops' decisions recorded in ``status`` that apply to this spec."""
    threshold = _threshold(status) if _enabled(spec, "adaptation") else None
    if not _enabled(spec, "canary"):
        return Controls(threshold=threshold)
    known = {v.name for v in spec.small.versions}
    discovered = _discovered(status, set(known))
    names = known | {v.name for v in discovered}
    weights = _weights(status, names)
    return Controls(
        threshold=threshold,
        weights=weights,
        discovered=tuple(discovered),
        shadow=_shadow(status, names),
    )


def effective_spec(spec: HybridRouteSpec, controls: Controls) -> HybridRouteSpec:
    """The spec with the loops' decisions applied: what render and status work from."""
    if (
        controls.threshold is None
        and controls.weights is None
        and not controls.discovered
        and not controls.shadow
    ):
        return spec
    policy = spec.policy
    if controls.threshold is not None:
        complexity = policy.complexity.model_copy(update={"threshold": controls.threshold})
        policy = policy.model_copy(update={"complexity": complexity})
    versions = [*spec.small.versions, *controls.discovered]  # discovered: weight 0
    if controls.weights is not None:
        weights = controls.weights
        versions = [v.model_copy(update={"weight": weights.get(v.name, 0)}) for v in versions]
    if controls.shadow:
        shadow = controls.shadow
        versions = [
            v.model_copy(update={"shadow_percent": shadow[v.name]}) if v.name in shadow else v
            for v in versions
        ]
    small = spec.small.model_copy(update={"versions": versions})
    return spec.model_copy(update={"policy": policy, "small": small})
