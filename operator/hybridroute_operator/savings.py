"""Savings against sending everything to the large model (pure): the queries and the
``status.savings`` section. Measured from the router's counters in Prometheus:

- ``smallShare``: requests answered by the small model / requests answered;
- ``costSavedPerHour``: ``hybridroute_cost_saved_usd_total`` per hour (what the large
  model would have cost at the same token counts, minus what the small one did);
- ``energySavedJoulesPerHour``: ``hybridroute_energy_saved_joules_total`` per hour.

A value that cannot be measured is left out and ``reason`` says why (no Prometheus, no
traffic in the window, a failed query): never a made-up number.

Values are shown to three significant digits. A reading that shows the same as the
section in status (values, window, reason, message) keeps that section's ``time``, so it
is not written again: ``time`` is when the section last changed, not when it was last
read (a status write per route and interval would churn etcd and every watcher).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hybridroute_operator.api.spec import HybridRouteSpec, PrometheusSpec, duration_seconds
from hybridroute_operator.controls import shown, since_last_change

DEFAULT_WINDOW = "1h"
DEFAULT_INTERVAL_SECONDS = 60.0
_R = '{matcher}route="{route}"'
ANSWERED = f'hybridroute_requests_total{{{_R},model=~"large|small"}}'
QUERIES: dict[str, str] = {
    "smallShare": (
        f'(sum(rate(hybridroute_requests_total{{{_R},model="small"}}[{{window}}])) '
        f"or 0 * sum(rate({ANSWERED}[{{window}}]))) / sum(rate({ANSWERED}[{{window}}]))"
    ),
    "costSavedPerHour": (
        f"(sum(rate(hybridroute_cost_saved_usd_total{{{_R}}}[{{window}}])) "
        f"or 0 * sum(rate({ANSWERED}[{{window}}]))) * 3600"
    ),
    "energySavedJoulesPerHour": (
        f"(sum(rate(hybridroute_energy_saved_joules_total{{{_R}}}[{{window}}])) "
        f"or 0 * sum(rate({ANSWERED}[{{window}}]))) * 3600"
    ),
}


@dataclass(frozen=True)
class Settings:
    prometheus: PrometheusSpec | None
    namespace_label: str
    window: str
    interval: float


def settings_for(
    spec: HybridRouteSpec, default_interval: float = DEFAULT_INTERVAL_SECONDS
) -> Settings:
    """Savings share the Prometheus of load adaptation (else of the canary, else the
    operator's default) and are measured over the adaptation window and every adaptation
    interval (else over an hour, every ``default_interval``)."""
    adaptation, canary = spec.adaptation, spec.canary
    prometheus = (adaptation.prometheus if adaptation else None) or (
        canary.prometheus if canary else None
    )
    label = (
        adaptation.namespace_label
        if adaptation
        else canary.namespace_label
        if canary
        else "namespace"
    )
    if adaptation is None:
        return Settings(prometheus, label, DEFAULT_WINDOW, default_interval)
    return Settings(prometheus, label, adaptation.window, duration_seconds(adaptation.interval))


def _literal(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def queries(settings: Settings, route: str, namespace: str) -> dict[str, str]:
    matcher = (
        f'{settings.namespace_label}="{_literal(namespace)}",' if settings.namespace_label else ""
    )
    return {
        field: template.replace("{matcher}", matcher)
        .replace("{route}", _literal(route))
        .replace("{window}", settings.window)
        for field, template in QUERIES.items()
    }


def section(
    values: Mapping[str, float],
    problems: Mapping[str, tuple[str, str]],
    window: str,
    time: str,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``status.savings``: the measured values, the window and time; ``reason`` is
    ``Measured``, or why some values are missing (``problems``: field -> (kind, detail),
    kind a query result or ``config``), every problem spelled out in ``message``.
    ``time`` is the ``previous`` section's when it shows the same (see above)."""
    return since_last_change(_reading(values, problems, window, time), previous, "time")


def _reading(
    values: Mapping[str, float],
    problems: Mapping[str, tuple[str, str]],
    window: str,
    time: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {k: shown(v) for k, v in values.items()}
    out["window"] = window
    out["time"] = time
    if not problems:
        out["reason"] = "Measured"
        return out
    kinds = {kind for kind, _ in problems.values()}
    if "config" in kinds:  # no time: nothing was measured, and status stays unchanged
        del out["time"]
        out["reason"] = "PrometheusNotConfigured"
        out["message"] = next(detail for kind, detail in problems.values() if kind == "config")
        return out
    out["reason"] = (
        "PrometheusUnreachable"
        if "unreachable" in kinds
        else "NoTraffic"
        if kinds == {"no_data"}
        else "QueryFailed"
    )
    out["message"] = "; ".join(f"{field}: {detail}" for field, (_, detail) in problems.items())
    return out
