"""``spec.canary``: how new small-model versions are analysed and promoted (Flagger- and
Argo-Rollouts-like steps, limits and checks; see docs/canary.md). Cross-field rules are
written as pydantic validators and as CEL rules with the same message."""

from __future__ import annotations

import itertools
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from hybridroute_operator.api.base import (
    DNS_LABEL,
    DURATION,
    PrometheusSpec,
    SpecModel,
)
from hybridroute_operator.api.base import cel as _cel

STEPS_INCREASING = "canary.stepWeights must be strictly increasing (e.g. [5, 10, 25, 50])"
LATENCY_BOUND = "canary.checks.p99Latency needs maxSeconds or maxRatioToStable"
ESCALATION_BOUND = "canary.checks.escalationRate needs max or maxRatioToStable"
CUSTOM_BOUND = "a custom check needs min or max"
AGREEMENT_BOUND = "canary.checks.shadowAgreement needs min or minRatioToStable"
CUSTOM_MIN_LE_MAX = "a custom check's min must be <= its max"
CUSTOM_NAMES_UNIQUE = "canary.checks.custom names must be unique"


class Check(SpecModel):
    dry_run: bool = Field(
        False,
        description="evaluate and report in status, but never fail the canary on it",
    )


class ShadowAgreementCheck(Check):
    """Share of the candidate's shadow comparisons with the large model that agree
    (``hybridroute_shadow_comparisons_total``, outcomes agree / agree+disagree): relative
    to the stable version's share over the same window (the default: a student agrees
    with the large model only as often as the stable one does), an absolute floor, or
    both. Relative: the candidate fails when its share is below ``minRatioToStable`` x
    the stable's by more than the sampling noise of both counts at ``confidence``."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel("has(self.min) || has(self.minRatioToStable)", AGREEMENT_BOUND)
            ]
        }
    )

    min: float | None = Field(
        None, ge=0.0, le=1.0, description="absolute floor of the candidate's agreement"
    )
    min_ratio_to_stable: float | None = Field(
        None,
        gt=0.0,
        le=10.0,
        description="the candidate's agreement must reach this times the stable version's "
        "(both counted over the same window)",
    )
    confidence: float = Field(
        0.95,
        ge=0.5,
        lt=1.0,
        description="minRatioToStable fails only when the shortfall is beyond sampling noise "
        "at this one-sided confidence (0.5: no allowance for noise)",
    )
    min_comparisons: int = Field(
        10,
        ge=1,
        le=1_000_000,
        description="fewer comparisons in the window (of the candidate, or of the stable "
        "version for minRatioToStable): inconclusive",
    )

    @model_validator(mode="after")
    def _bounded(self) -> ShadowAgreementCheck:
        if self.min is None and self.min_ratio_to_stable is None:
            raise ValueError(AGREEMENT_BOUND)
        return self


class ErrorRateCheck(Check):
    """Share of the candidate's upstream calls that failed (timeout, connect, closed,
    protocol, HTTP 5xx), from ``hybridroute_upstream_duration_seconds_count``."""

    max: float = Field(0.05, ge=0.0, le=1.0)


class LatencyCheck(Check):
    """p99 of the candidate's successful upstream calls: an absolute bound, a bound
    relative to the stable version's p99 over the same window, or both."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel("has(self.maxSeconds) || has(self.maxRatioToStable)", LATENCY_BOUND)
            ]
        }
    )

    max_seconds: float | None = Field(None, gt=0, le=3600)
    max_ratio_to_stable: float | None = Field(None, gt=0, le=100)

    @model_validator(mode="after")
    def _bounded(self) -> LatencyCheck:
        if self.max_seconds is None and self.max_ratio_to_stable is None:
            raise ValueError(LATENCY_BOUND)
        return self


class EscalationRateCheck(Check):
    """Cascade escalations per candidate call (needs policy.confidence): an absolute
    bound, a bound relative to the stable version's rate, or both."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel("has(self.max) || has(self.maxRatioToStable)", ESCALATION_BOUND)
            ]
        }
    )

    max: float | None = Field(None, ge=0.0, le=1.0)
    max_ratio_to_stable: float | None = Field(None, gt=0, le=100)

    @model_validator(mode="after")
    def _bounded(self) -> EscalationRateCheck:
        if self.max is None and self.max_ratio_to_stable is None:
            raise ValueError(ESCALATION_BOUND)
        return self


class FeedbackScoreCheck(Check):
    """Mean user feedback score (POST /v1/feedback) of the candidate's answers relative
    to the stable version's; inconclusive while either has fewer than ``minSamples``."""

    min_ratio_to_stable: float = Field(0.95, gt=0, le=10)
    min_samples: int = Field(5, ge=1, le=1_000_000)


class CustomCheck(Check):
    """A PromQL query giving one number, with placeholders ``{route}``, ``{namespace}``,
    ``{version}`` (the candidate), ``{stable}`` and ``{window}`` (e.g. ``120s``, the time
    since the step began). No series is inconclusive, never a pass."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel("has(self.min) || has(self.max)", CUSTOM_BOUND),
                _cel("!has(self.min) || !has(self.max) || self.min <= self.max", CUSTOM_MIN_LE_MAX),
            ]
        }
    )

    name: str = Field(..., min_length=1, max_length=63, pattern=DNS_LABEL)
    query: str = Field(..., min_length=1, max_length=4096)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounded(self) -> CustomCheck:
        if self.min is None and self.max is None:
            raise ValueError(CUSTOM_BOUND)
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(CUSTOM_MIN_LE_MAX)
        return self


class CanaryChecks(SpecModel):
    """What a step must show to advance. Unset checks are not run; every check's query
    runs once per interval over the window since the step began."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.custom) || "
                    "self.custom.all(c, self.custom.exists_one(d, d.name == c.name))",
                    CUSTOM_NAMES_UNIQUE,
                )
            ]
        }
    )

    shadow_agreement: ShadowAgreementCheck | None = ShadowAgreementCheck(
        min_ratio_to_stable=0.9  # relative: a student's agreement depends on the task
    )
    error_rate: ErrorRateCheck | None = ErrorRateCheck()
    p99_latency: LatencyCheck | None = None  # a p99 of a 5% step is noisy: opt in
    escalation_rate: EscalationRateCheck | None = None
    feedback_score: FeedbackScoreCheck | None = None
    custom: list[CustomCheck] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _names_unique(self) -> CanaryChecks:
        names = [c.name for c in self.custom]
        if len(set(names)) != len(names):
            raise ValueError(CUSTOM_NAMES_UNIQUE)
        return self


class CanarySpec(SpecModel):
    """Progressive delivery of small-model versions: a new version (discovered, or added
    to small.versions) gets ``stepWeights`` of the small traffic in turn, each step
    analysed every ``interval``; it is promoted after the last step or rolled back after
    ``failureLimit`` failed analyses. Manual control: ``paused``, and the annotations
    ``canary.inferensys.io/promote``, ``/abort`` and ``/retry`` (docs/canary.md)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.stepWeights) || (self.stepWeights.isSorted() && "
                    "self.stepWeights.all(w, self.stepWeights.exists_one(x, x == w)))",
                    STEPS_INCREASING,
                )
            ]
        }
    )

    interval: str = Field("1m", pattern=DURATION, description="time between analyses, e.g. 30s, 1m")
    step_weights: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        [5, 10, 25, 50],  # a literal (copied per instance) so the CRD carries the default
        min_length=1,
        max_length=20,
        description="the candidate's percent of small traffic at each step, increasing; "
        "after the last one it is promoted to 100",
    )
    min_requests: int = Field(
        50,
        ge=0,
        le=10_000_000,
        description="candidate calls a step needs before its analysis counts; fewer is "
        "inconclusive",
    )
    failure_limit: int = Field(
        3, ge=1, le=100, description="failed analyses in one rollout that roll it back"
    )
    inconclusive_limit: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="consecutive inconclusive analyses that pause the rollout for a "
        "person; unset: keep waiting for data",
    )
    analysis_shadow_percent: float = Field(
        25.0,
        ge=0.0,
        le=100.0,
        description="shadow share of the candidate's answers while it is analysed (the "
        "policy's shadow.percent applies to the other versions)",
    )
    keep_previous_for: str = Field(
        "1h",
        pattern=DURATION,
        description="after a promotion the old stable version stays in the policy at "
        "weight 0 this long (a manual rollback is then instant)",
    )
    paused: bool = Field(False, description="hold the rollout at its current step; analyses stop")
    prometheus: PrometheusSpec | None = None
    namespace_label: str = Field(
        "namespace",
        max_length=128,
        pattern=r"^([a-zA-Z_][a-zA-Z0-9_]*)?$",
        description="the label Prometheus puts the router pods' namespace in (a "
        "ServiceMonitor's scrape sets namespace); the built-in checks match it. Empty: "
        "match the route label only",
    )
    checks: CanaryChecks = CanaryChecks()

    @field_validator("step_weights")
    @classmethod
    def _increasing(cls, steps: list[int]) -> list[int]:
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(STEPS_INCREASING)
        return steps
