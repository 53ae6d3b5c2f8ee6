"""``spec.adaptation``: which load signals move the complexity threshold, within which
bounds, and the cost budget (see docs/adaptation.md). Cross-field rules are written as
pydantic validators and as CEL rules with the same message."""

from __future__ import annotations

from pydantic import ConfigDict, Field, model_validator

from hybridroute_operator.api.base import DURATION, PrometheusSpec, SpecModel
from hybridroute_operator.api.base import cel as _cel

ADAPT_MIN_LE_MAX = "adaptation.threshold.min must be <= adaptation.threshold.max"
ADAPT_BASELINE_IN_BOUNDS = (
    "policy.complexity.threshold (the baseline) must lie within adaptation.threshold min..max"
)
ADAPT_NEEDS_INPUT = (
    "adaptation needs at least one of signals.queueDepth, signals.kvCache, "
    "signals.p99Latency, signals.errorRate or budget"
)
BUDGET_NEEDS_LIMIT = "adaptation.budget needs maxCostPerHour or maxLargeShare"
QUERY_FIELD = Field(
    None,
    min_length=1,
    max_length=4096,
    description="PromQL giving one number; placeholders {route}, {namespace}, {version} "
    "(large), {large_model}, {window} are filled in. The vLLM default when unset",
)


class SignalSpec(SpecModel):
    """One load signal: a PromQL query giving one number, and the value it should stay
    under. Pressure is value / target; above 1 the threshold rises."""

    target: float = Field(..., gt=0, le=1e9, description="keep the reading at or under this")
    query: str | None = QUERY_FIELD


class SignalsSpec(SpecModel):
    """The large model's load signals; a signal is watched when it is set."""

    queue_depth: SignalSpec | None = Field(
        None,
        description="requests waiting at the large model (vLLM "
        "vllm:num_requests_waiting, summed over its replicas)",
    )
    kv_cache: SignalSpec | None = Field(
        None,
        description="KV-cache use of the large model, 0-1 (vllm:kv_cache_usage_perc or "
        "vllm:gpu_cache_usage_perc, the highest replica)",
    )
    p99_latency: SignalSpec | None = Field(
        None,
        description="p99 seconds of the large model as the router sees it "
        "(hybridroute_upstream_duration_seconds): target is the SLO",
    )
    error_rate: SignalSpec | None = Field(
        None,
        description="share of the router's calls to the large model that failed, 0-1",
    )


class ThresholdBoundsSpec(SpecModel):
    """How far and how fast the controller may move the complexity threshold."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel("!has(self.min) || !has(self.max) || self.min <= self.max", ADAPT_MIN_LE_MAX)
            ]
        }
    )

    min: float = Field(0.0, ge=0.0, le=1.0, description="lowest effective threshold")
    max: float = Field(0.9, ge=0.0, le=1.0, description="highest effective threshold")
    max_step: float = Field(
        0.05, gt=0.0, le=1.0, description="largest change of the threshold per evaluation"
    )
    cooldown: str = Field(
        "2m",
        pattern=DURATION,
        description="after a change, no step back toward the baseline for this long "
        "(steps relieving pressure are never delayed)",
    )
    hysteresis: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="pressure counts as cleared only under (1 - hysteresis) x target; in "
        "between the threshold holds",
    )

    @model_validator(mode="after")
    def _min_le_max(self) -> ThresholdBoundsSpec:
        if self.min > self.max:
            raise ValueError(ADAPT_MIN_LE_MAX)
        return self


class BudgetSpec(SpecModel):
    """A spending limit: the threshold rises until the burn is under it."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel("has(self.maxCostPerHour) || has(self.maxLargeShare)", BUDGET_NEEDS_LIMIT)
            ]
        }
    )

    max_cost_per_hour: float | None = Field(
        None,
        gt=0,
        le=1e9,
        description="USD per hour, from the router's hybridroute_cost_usd_total",
    )
    max_large_share: float | None = Field(
        None, gt=0.0, le=1.0, description="largest share of requests answered by the large model"
    )
    window: str = Field("15m", pattern=DURATION, description="the rate() window of the burn")
    cost_query: str | None = QUERY_FIELD
    large_share_query: str | None = QUERY_FIELD

    @model_validator(mode="after")
    def _has_limit(self) -> BudgetSpec:
        if self.max_cost_per_hour is None and self.max_large_share is None:
            raise ValueError(BUDGET_NEEDS_LIMIT)
        return self


class AdaptationSpec(SpecModel):
    """Load adaptation: every ``interval`` the operator reads the signals from
    Prometheus and moves the complexity threshold within ``threshold`` bounds (higher:
    more traffic to the small model), back to the baseline
    (``policy.complexity.threshold``) when the pressure clears (docs/adaptation.md).
    Tiers whose rule is ``large`` are never affected: the threshold does not apply to
    them."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "has(self.budget) || (has(self.signals) && (has(self.signals.queueDepth) "
                    "|| has(self.signals.kvCache) || has(self.signals.p99Latency) "
                    "|| has(self.signals.errorRate)))",
                    ADAPT_NEEDS_INPUT,
                )
            ]
        }
    )

    prometheus: PrometheusSpec | None = Field(
        None, description="where to query; the operator's --prometheus-url when unset"
    )
    interval: str = Field("30s", pattern=DURATION, description="time between evaluations")
    window: str = Field(
        "2m",
        pattern=DURATION,
        description="the rate() window of the default latency and error-rate queries ({window})",
    )
    namespace_label: str = Field(
        "namespace",
        max_length=128,
        pattern=r"^([a-zA-Z_][a-zA-Z0-9_]*)?$",
        description="the label Prometheus puts the router pods' namespace in (a "
        "ServiceMonitor's scrape sets namespace); the default router queries match it. "
        "Empty: match the route label only",
    )
    threshold: ThresholdBoundsSpec = ThresholdBoundsSpec()
    signals: SignalsSpec = SignalsSpec()
    budget: BudgetSpec | None = None

    @model_validator(mode="after")
    def _has_input(self) -> AdaptationSpec:
        s = self.signals
        watched = [s.queue_depth, s.kv_cache, s.p99_latency, s.error_rate]
        if self.budget is None and all(x is None for x in watched):
            raise ValueError(ADAPT_NEEDS_INPUT)
        return self
