"""The operator's own Prometheus metrics (one registry per operator, no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

Purpose = Literal["adaptation", "canary", "savings"]
QueryResult = Literal["ok", "no_data", "ambiguous", "error", "unreachable"]
LOOPS = ("adaptation", "canary", "savings")  # the control loops (label loop)


@dataclass
class OperatorMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.canary = CanaryMetrics(r)
        self.reconciles = Counter(
            "hybridroute_operator_reconciles_total",
            "Reconciles of HybridRoutes by result",
            ["result"],
            registry=r,
        )
        self.duration = Histogram(
            "hybridroute_operator_reconcile_duration_seconds",
            "Time to reconcile one HybridRoute",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.errors = Counter(
            "hybridroute_operator_reconcile_errors_total",
            "Failed reconciles by reason",
            ["reason"],
            registry=r,
        )
        self.applies = Counter(
            "hybridroute_operator_applies_total",
            "Server-side applies of children by kind",
            ["kind"],
            registry=r,
        )
        self.drift = Counter(
            "hybridroute_operator_drift_corrections_total",
            "Children restored after a change by hand",
            ["kind"],
            registry=r,
        )
        self.routes = Gauge(
            "hybridroute_operator_routes",
            "HybridRoutes known to this operator",
            registry=r,
        )
        self.active = Gauge(
            "hybridroute_operator_active",
            "1 while this replica works; 0 while it is a peering standby",
            registry=r,
        )
        self.standby_resyncs = Counter(
            "hybridroute_operator_standby_resyncs_total",
            "Resync periods skipped because this replica was a peering standby",
            registry=r,
        )
        self.prometheus_queries = Counter(
            "hybridroute_operator_prometheus_queries_total",
            "Prometheus queries by purpose and result (ok, no_data, ambiguous, error, unreachable)",
            ["purpose", "result"],
            registry=r,
        )
        self.prometheus_query_duration = Histogram(
            "hybridroute_operator_prometheus_query_duration_seconds",
            "Time of one Prometheus query",
            ["purpose"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.loop_evaluations = Counter(
            "hybridroute_operator_loop_evaluations_total",
            "Control-loop evaluations completed per route and loop (adaptation, canary, "
            "savings), written to status or not: status changes only when what it shows does",
            ["namespace", "route", "loop"],
            registry=r,
        )
        self.events_failed = Counter(
            "hybridroute_operator_events_failed_total",
            "Events the operator could not post (the decision stands; only the Event is lost)",
            registry=r,
        )

        route = ["namespace", "route"]
        self.effective_threshold = Gauge(
            "hybridroute_operator_effective_threshold",
            "Complexity threshold load adaptation put in force",
            route,
            registry=r,
        )
        self.baseline_threshold = Gauge(
            "hybridroute_operator_baseline_threshold",
            "The spec's complexity threshold (load adaptation's baseline)",
            route,
            registry=r,
        )
        self.threshold_at_bound = Gauge(
            "hybridroute_operator_threshold_at_bound",
            "1 while the effective threshold sits at its min or max bound",
            route,
            registry=r,
        )
        self.adaptation_data_ok = Gauge(
            "hybridroute_operator_adaptation_data_ok",
            "1 when the last evaluation had fresh data for every signal, 0 while holding",
            route,
            registry=r,
        )
        self.cost_budget = Gauge(
            "hybridroute_operator_cost_budget_usd_per_hour",
            "Load adaptation's cost budget (only routes with one)",
            route,
            registry=r,
        )

    def route_gauges(self, loop: str) -> tuple[Gauge, ...]:
        """The per-route gauges (labels namespace, route) a control loop owns."""
        if loop == "adaptation":
            return (
                self.effective_threshold,
                self.baseline_threshold,
                self.threshold_at_bound,
                self.adaptation_data_ok,
                self.cost_budget,
            )
        return ()

    def forget_route(self, namespace: str, route: str, loop: str | None = None) -> None:
        """Drop a route's series of one loop's gauges (the loop was switched off) or of
        every loop's (the route was deleted): no alert fires on a route that is gone."""
        for name in (loop,) if loop is not None else ("adaptation",):
            for gauge in self.route_gauges(name):
                try:
                    gauge.remove(namespace, route)
                except KeyError:
                    continue
        for name in (loop,) if loop is not None else LOOPS:
            try:
                self.loop_evaluations.remove(namespace, route, name)
            except KeyError:
                continue
        if loop in (None, "canary"):
            self.canary.forget(namespace, route)

    def observe_query(self, purpose: Purpose, result: QueryResult, seconds: float) -> None:
        self.prometheus_queries.labels(purpose=purpose, result=result).inc()
        self.prometheus_query_duration.labels(purpose=purpose).observe(seconds)


class CanaryMetrics:
    """The canary loop's gauges and counters (labels namespace, route of the route)."""

    def __init__(self, r: CollectorRegistry) -> None:
        route = ["namespace", "route"]
        self.phase = Gauge(
            "hybridroute_operator_canary_phase",
            "1 for the rollout's current phase, 0 for the others",
            [*route, "phase"],
            registry=r,
        )
        self.weight = Gauge(
            "hybridroute_operator_canary_weight",
            "Percent of small traffic the canary loop gives each version",
            [*route, "version"],
            registry=r,
        )
        self.promotions = Counter(
            "hybridroute_operator_canary_promotions_total",
            "Candidates promoted to stable",
            route,
            registry=r,
        )
        self.rollbacks = Counter(
            "hybridroute_operator_canary_rollbacks_total",
            "Candidates rolled back (failed analyses or abort)",
            route,
            registry=r,
        )
        self._versions: dict[tuple[str, str], set[str]] = {}
        self._phases: set[tuple[str, str, str]] = set()

    def set(
        self,
        namespace: str,
        route: str,
        phase: str,
        phases: tuple[str, ...],
        weights: dict[str, int],
    ) -> None:
        """The current phase and weights; versions no longer weighted are removed."""
        for p in phases:
            self.phase.labels(namespace, route, p).set(1 if p == phase else 0)
            self._phases.add((namespace, route, p))
        key = (namespace, route)
        for gone in self._versions.get(key, set()) - set(weights):
            self.weight.remove(namespace, route, gone)
        for version, weight in weights.items():
            self.weight.labels(namespace, route, version).set(weight)
        self._versions[key] = set(weights)

    def forget(self, namespace: str, route: str) -> None:
        """Drop the route's phase and weight series (canary switched off, route deleted)."""
        for version in self._versions.pop((namespace, route), set()):
            self.weight.remove(namespace, route, version)
        for labels in [k for k in self._phases if k[:2] == (namespace, route)]:
            self.phase.remove(*labels)
            self._phases.discard(labels)
