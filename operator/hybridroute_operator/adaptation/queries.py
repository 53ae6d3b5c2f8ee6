"""Which queries load adaptation runs for a spec (pure): the signals set in
``spec.adaptation``, each with its target and PromQL (the user's, or the default for
vLLM behind the HybridRoute router).

Router metrics carry ``route`` (from the policy) and, when Prometheus scrapes the router
through the ServiceMonitor, ``namespace`` (``spec.adaptation.namespaceLabel`` names that
label; empty: the default queries match the route only); vLLM's carry ``model_name`` (the
served model, ``spec.large.model``). Placeholders filled in every query: ``{route}``,
``{namespace}``, ``{version}`` (``large``), ``{large_model}`` and ``{window}``; the
default queries also use ``{namespace_matcher}`` (``namespace="...",`` or nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from hybridroute_operator.adaptation.law import Bounds
from hybridroute_operator.api.spec import (
    AdaptationSpec,
    HybridRouteSpec,
    SignalSpec,
    duration_seconds,
)

ROUTER = '{namespace_matcher}route="{route}"'
LARGE_CALLS = f'hybridroute_upstream_duration_seconds_count{{{ROUTER},model="large"}}'

DEFAULT_QUERIES: dict[str, str] = {
    "queueDepth": 'sum(vllm:num_requests_waiting{model_name="{large_model}"})',
    "kvCache": (
        'max(max(vllm:kv_cache_usage_perc{model_name="{large_model}"}) '
        'or max(vllm:gpu_cache_usage_perc{model_name="{large_model}"}))'
    ),
    # NaN (no large call in the window) is dropped by ">= 0"; the "or" then says 0 s,
    # but only while the router's series exist (a route Prometheus never saw is no data)
    "p99Latency": (
        "(histogram_quantile(0.99, sum by (le) (rate(hybridroute_upstream_duration_seconds_"
        f'bucket{{{ROUTER},model="large",outcome="ok"}}[{{window}}]))) >= 0) '
        f"or (0 * sum(rate({LARGE_CALLS}[{{window}}])))"
    ),
    "errorRate": (
        f'(sum(rate({LARGE_CALLS[:-1]},outcome!="ok"}}[{{window}}])) '
        f"or 0 * sum(rate({LARGE_CALLS}[{{window}}]))) "
        f"/ clamp_min(sum(rate({LARGE_CALLS}[{{window}}])), 1e-9)"
    ),
    "costPerHour": f"sum(rate(hybridroute_cost_usd_total{{{ROUTER}}}[{{window}}])) * 3600",
    "largeShare": (
        f'(sum(rate(hybridroute_requests_total{{{ROUTER},model="large"}}[{{window}}])) '
        f"or 0 * sum(rate(hybridroute_requests_total{{{ROUTER}}}[{{window}}]))) "
        f"/ clamp_min(sum(rate(hybridroute_requests_total{{{ROUTER}}}[{{window}}])), 1e-9)"
    ),
}
SIGNALS = ("queueDepth", "kvCache", "p99Latency", "errorRate", "costPerHour", "largeShare")


@dataclass(frozen=True)
class Query:
    signal: str
    target: float
    template: str  # PromQL with placeholders
    window: str  # what {window} becomes
    settle: float = 0.0  # seconds a threshold change takes to show fully in the reading


RATE_SIGNALS = frozenset({"p99Latency", "errorRate", "costPerHour", "largeShare"})


def _query(name: str, target: float, template: str, window: str, interval: float) -> Query:
    """A rate over ``window`` shows a change fully once the window has passed, plus the
    scrape and the answers in flight: one more interval is allowed for those."""
    settle = duration_seconds(window) + interval if name in RATE_SIGNALS else 0.0
    return Query(name, target, template, window, settle)


def _signal(name: str, spec: SignalSpec | None, window: str, interval: float) -> list[Query]:
    if spec is None:
        return []
    return [_query(name, spec.target, spec.query or DEFAULT_QUERIES[name], window, interval)]


def signal_queries(adaptation: AdaptationSpec) -> list[Query]:
    """The queries of every watched signal and budget limit, in a fixed order."""
    s, w, every = adaptation.signals, adaptation.window, duration_seconds(adaptation.interval)
    out = [
        *_signal("queueDepth", s.queue_depth, w, every),
        *_signal("kvCache", s.kv_cache, w, every),
        *_signal("p99Latency", s.p99_latency, w, every),
        *_signal("errorRate", s.error_rate, w, every),
    ]
    budget = adaptation.budget
    if budget is not None and budget.max_cost_per_hour is not None:
        template = budget.cost_query or DEFAULT_QUERIES["costPerHour"]
        limit = budget.max_cost_per_hour
        out.append(_query("costPerHour", limit, template, budget.window, every))
    if budget is not None and budget.max_large_share is not None:
        template = budget.large_share_query or DEFAULT_QUERIES["largeShare"]
        limit = budget.max_large_share
        out.append(_query("largeShare", limit, template, budget.window, every))
    return out


def _literal(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def render_query(spec: HybridRouteSpec, query: Query, route: str, namespace: str) -> str:
    """The PromQL to run: the template with its placeholders filled in (label values
    escaped for PromQL string literals; PromQL's own braces stay)."""
    label = spec.adaptation.namespace_label if spec.adaptation is not None else "namespace"
    values = {
        "namespace_matcher": f'{label}="{_literal(namespace)}",' if label else "",
        "route": _literal(route),
        "namespace": _literal(namespace),
        "version": "large",
        "large_model": _literal(spec.large.model),
        "window": query.window,
    }
    out = query.template
    for name, value in values.items():
        out = out.replace("{" + name + "}", value)
    return out


def bounds_for(spec: HybridRouteSpec, adaptation: AdaptationSpec) -> Bounds:
    t = adaptation.threshold
    return Bounds(
        baseline=spec.policy.complexity.threshold,
        min=t.min,
        max=t.max,
        max_step=t.max_step,
        cooldown=duration_seconds(t.cooldown),
        hysteresis=t.hysteresis,
        stale_after=2 * duration_seconds(adaptation.interval),
    )
