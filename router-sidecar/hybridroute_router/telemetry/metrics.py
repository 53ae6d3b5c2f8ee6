"""Prometheus metrics: the contract the operator's queries depend on (docs/metrics.md).

Label values are bounded: route and version names come from the policy, ``model`` is
the role (``large`` or ``small``), ``reason`` is a :class:`Reason`, ``code`` an HTTP
status. Labelled children are cached so the hot path does one dict lookup per metric.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
_SCORE_BUCKETS = tuple(i / 10 for i in range(1, 11))


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "hybridroute_requests",
            "Requests answered, by routed model and outcome",
            ["route", "model", "version", "reason", "code"],
            registry=r,
        )
        self.request_duration = Histogram(
            "hybridroute_request_duration_seconds",
            "Time from request received to response fully sent",
            ["route", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_duration = Histogram(
            "hybridroute_upstream_duration_seconds",
            "Time from upstream request sent to response headers received",
            ["route", "model", "version", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "hybridroute_router_overhead_seconds",
            "Time the router itself adds (request time minus upstream wait)",
            ["route"],
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.decision_score = Histogram(
            "hybridroute_decision_score",
            "Complexity score of routed requests",
            ["route"],
            buckets=_SCORE_BUCKETS,
            registry=r,
        )
        self.escalations = Counter(
            "hybridroute_escalations",
            "Cascade escalations from a small version to large",
            ["route", "version", "reason"],
            registry=r,
        )
        self.shadow = Counter(
            "hybridroute_shadow_comparisons",
            "Shadow comparisons by small version and outcome",
            ["route", "version", "outcome"],
            registry=r,
        )
        self.shadow_similarity = Histogram(
            "hybridroute_shadow_similarity",
            "Similarity of shadow answer pairs",
            ["route", "version"],
            buckets=_SCORE_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "hybridroute_tokens",
            "Tokens reported by upstreams",
            ["route", "model", "version", "kind"],
            registry=r,
        )
        self.cost = Counter(
            "hybridroute_cost_usd",
            "Cost of answered requests from the policy's prices",
            ["route", "model", "version"],
            registry=r,
        )
        self.energy = Counter(
            "hybridroute_energy_joules",
            "Energy of answered requests from the policy",
            ["route", "model", "version"],
            registry=r,
        )
        self.in_flight = Gauge(
            "hybridroute_in_flight_requests",
            "Requests being served",
            ["route"],
            registry=r,
        )
        self.threshold = Gauge(
            "hybridroute_policy_threshold",
            "Effective complexity threshold",
            ["route"],
            registry=r,
        )
        self.retries = Counter(
            "hybridroute_upstream_retries",
            "Upstream retries",
            ["route", "model", "version"],
            registry=r,
        )
        self.fallbacks = Counter(
            "hybridroute_fallbacks",
            "Requests answered by the other model after a failure",
            ["route", "from_model", "to_model"],
            registry=r,
        )
        self.circuit_open = Gauge(
            "hybridroute_upstream_circuit_open",
            "1 while an upstream's circuit is open",
            ["route", "model", "version"],
            registry=r,
        )
        self.reloads = Counter(
            "hybridroute_policy_reloads",
            "Policy loads by source and outcome",
            ["source", "outcome"],
            registry=r,
        )
        self.feedback = Counter(
            "hybridroute_feedback",
            "User feedback records received",
            ["route"],
            registry=r,
        )
        self.scorer_fallback = Gauge(
            "hybridroute_scorer_fallback",
            "1 when the policy's scorer could not load",
            ["route", "scorer"],
            registry=r,
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = metric.labels(*labels)
        return c
