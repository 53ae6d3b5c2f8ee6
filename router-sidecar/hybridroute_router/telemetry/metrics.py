"""Prometheus metrics: the contract the operator's queries depend on (docs/metrics.md).

Label values are bounded: route and version names come from the policy, ``model`` is
the role (``large`` or ``small``), ``reason`` is a :class:`Reason`, ``code`` an HTTP
status. Labelled children are cached so the hot path does one dict lookup per metric.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hybridroute_router.telemetry.fast import FastCollector, FastCounter, FastHistogram, FastMetric

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
_SCORE_BUCKETS = tuple(i / 10 for i in range(1, 11))
_ENERGY_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._fast: list[FastMetric] = []
        self._define_traffic()
        self._define_routing()
        self._define_usage()
        self._define_operations()
        self.registry.register(FastCollector(self._fast))
        self._children: dict[tuple[Any, ...], Any] = {}

    def _counter(self, name: str, doc: str, labels: list[str]) -> Counter:
        return Counter(name, doc, labels, registry=self.registry)

    def _fast_counter(self, name: str, doc: str, labels: list[str]) -> FastCounter:
        """A per-request counter: lock-free (updated from the event loop only)."""
        metric = FastCounter(name, doc, labels)
        self._fast.append(metric)
        return metric

    def _fast_histogram(
        self, name: str, doc: str, labels: list[str], buckets: tuple[float, ...]
    ) -> FastHistogram:
        metric = FastHistogram(name, doc, labels, buckets)
        self._fast.append(metric)
        return metric

    def _gauge(self, name: str, doc: str, labels: list[str]) -> Gauge:
        return Gauge(name, doc, labels, registry=self.registry)

    def _histogram(
        self, name: str, doc: str, labels: list[str], buckets: tuple[float, ...]
    ) -> Histogram:
        return Histogram(name, doc, labels, buckets=buckets, registry=self.registry)

    def _define_traffic(self) -> None:
        self.requests = self._fast_counter(
            "hybridroute_requests",
            "Requests answered, by routed model and outcome",
            ["route", "model", "version", "reason", "code"],
        )
        self.request_duration = self._fast_histogram(
            "hybridroute_request_duration_seconds",
            "Time from request received to response fully sent",
            ["route", "model"],
            _LATENCY_BUCKETS,
        )
        self.upstream_duration = self._fast_histogram(
            "hybridroute_upstream_duration_seconds",
            "Time from upstream request sent to response headers received",
            ["route", "model", "version", "outcome"],
            _LATENCY_BUCKETS,
        )
        self.overhead = self._fast_histogram(
            "hybridroute_router_overhead_seconds",
            "Time the router itself adds (request time minus upstream wait)",
            ["route"],
            _OVERHEAD_BUCKETS,
        )
        self.in_flight = self._gauge(
            "hybridroute_in_flight_requests", "Requests being served", ["route"]
        )

    def _define_routing(self) -> None:
        self.decision_score = self._fast_histogram(
            "hybridroute_decision_score",
            "Complexity score of routed requests",
            ["route"],
            _SCORE_BUCKETS,
        )
        self.escalations = self._counter(
            "hybridroute_escalations",
            "Cascade escalations from a small version to large",
            ["route", "version", "reason"],
        )
        self.shadow = self._counter(
            "hybridroute_shadow_comparisons",
            "Shadow comparisons by small version and outcome",
            ["route", "version", "outcome"],
        )
        self.shadow_similarity = self._histogram(
            "hybridroute_shadow_similarity",
            "Similarity of shadow answer pairs",
            ["route", "version"],
            _SCORE_BUCKETS,
        )
        self.feedback_score = self._histogram(
            "hybridroute_feedback_score",
            "User feedback scores (0-1) of answered requests, by the version that answered",
            ["route", "version"],
            _SCORE_BUCKETS,
        )
        self.threshold = self._gauge(
            "hybridroute_policy_threshold", "Effective complexity threshold", ["route"]
        )
        self.scorer_fallback = self._gauge(
            "hybridroute_scorer_fallback",
            "1 when the policy's scorer could not load",
            ["route", "scorer"],
        )
        self.scorer_info = self._gauge(
            "hybridroute_scorer_info",
            "1 for the scorer in use and the sha256 of its artifact and examples files",
            ["route", "scorer", "artifact_sha256", "examples_sha256"],
        )

    def _define_usage(self) -> None:
        self.tokens = self._fast_counter(
            "hybridroute_tokens",
            "Tokens reported by upstreams",
            ["route", "model", "version", "kind"],
        )
        self.cost = self._fast_counter(
            "hybridroute_cost_usd",
            "Cost of answered requests from the policy's prices",
            ["route", "model", "version"],
        )
        self.energy = self._fast_counter(
            "hybridroute_energy_joules",
            "Energy of answered requests from the policy",
            ["route", "model", "version"],
        )
        self.request_energy = self._fast_histogram(
            "hybridroute_request_energy_joules",
            "Energy of one answered request: every upstream answer it used",
            ["route", "model"],
            _ENERGY_BUCKETS,
        )
        self.cost_saved = self._fast_counter(
            "hybridroute_cost_saved_usd",
            "Requests answered small: the large model's cost at the same tokens minus theirs",
            ["route", "version"],
        )
        self.energy_saved = self._fast_counter(
            "hybridroute_energy_saved_joules",
            "Requests answered small: the large model's energy at the same tokens minus theirs",
            ["route", "version"],
        )
        self.feedback = self._counter(
            "hybridroute_feedback", "User feedback records received", ["route"]
        )

    def _define_operations(self) -> None:
        self.retries = self._counter(
            "hybridroute_upstream_retries", "Upstream retries", ["route", "model", "version"]
        )
        self.fallbacks = self._counter(
            "hybridroute_fallbacks",
            "Requests answered by the other model after a failure",
            ["route", "from_model", "to_model"],
        )
        self.circuit_open = self._gauge(
            "hybridroute_upstream_circuit_open",
            "1 while an upstream's circuit is open",
            ["route", "model", "version"],
        )
        self.reloads = self._counter(
            "hybridroute_policy_reloads",
            "Policy loads by source and outcome",
            ["source", "outcome"],
        )
        self.log_dropped = self._counter(
            "hybridroute_log_records_dropped",
            "Decision or feedback log records lost (file not writable, disk full, "
            "reader too slow: backlog full)",
            ["log"],
        )

    def child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = metric.labels(*labels)
        return c
