"""The HybridRoute spec: the router policy models from ``hybridroute_policy`` plus what only
the cluster needs (model endpoints, small-model versions, the router Deployment).

The same models validate specs in the operator and generate the CRD's OpenAPI schema
(``hybridroute_operator.crdgen``). Cross-field rules are written twice, on purpose: as a
pydantic validator (the operator's own check) and as a CEL rule in ``json_schema_extra``
(the API server's check, with the same message).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from hybridroute_policy import (
    NAMES_UNIQUE,
    WEIGHTS_SUM,
    CircuitBreakerPolicy,
    ComplexityPolicy,
    ConfidencePolicy,
    EnergyPolicy,
    LimitsPolicy,
    LoggingPolicy,
    PricingPolicy,
    RetryPolicy,
    ShadowPolicy,
    SimilarityPolicy,
    TierPolicy,
    TimeoutPolicy,
    check_versions,
)
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from hybridroute_operator.api.constants import MAX_VERSION_NAME, ROUTER_PORT

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Quantity = Annotated[
    int | str,
    Field(
        union_mode="left_to_right",
        json_schema_extra={"pattern": r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"},
    ),
]
DEFAULT_ROUTER_IMAGE = "ghcr.io/inferensys/hybridroute-router:0.1.0"

EXACTLY_ONE_TARGET = "endpoint needs exactly one of service, selector or url"
PORT_REQUIRED = "endpoint.port is required with service or selector"
MIN_LE_MAX = "autoscaling.minReplicas must be <= maxReplicas"
ADMIN_PORT_DISTINCT = f"router.adminPort must differ from the router's API port {ROUTER_PORT}"
URL_CREDENTIALS = (
    "endpoint.url must not carry credentials (user:password@host): "
    "put the key in a Secret and use apiKeySecretRef"
)


def _cel(rule: str, message: str) -> JsonValue:
    return {"rule": rule, "message": message}


class SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class SecretKeyRef(SpecModel):
    """A key of a Secret in the route's namespace. Mounted into the router as a file; its
    value never appears in the policy ConfigMap."""

    name: str = Field(
        ..., min_length=1, max_length=253, pattern=r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$"
    )
    key: str = Field(..., min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")


class ModelEndpoint(SpecModel):
    """Where an OpenAI-compatible model server answers: an existing Service, the pods a
    label selector matches (the operator creates a Service for them), or an external URL."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "[has(self.service), has(self.selector), has(self.url)]"
                    ".filter(x, x).size() == 1",
                    EXACTLY_ONE_TARGET,
                ),
                _cel("has(self.url) || has(self.port)", PORT_REQUIRED),
                _cel("!has(self.url) || !self.url.matches('^[^:]*://[^/]*@')", URL_CREDENTIALS),
            ]
        }
    )

    service: str | None = Field(None, min_length=1, max_length=63, pattern=DNS_LABEL)
    selector: dict[str, str] | None = Field(None, min_length=1, max_length=16)
    url: str | None = Field(None, max_length=2048, pattern=r"^https?://[^\s/]+(/.*)?$")
    port: int | None = Field(None, ge=1, le=65535)
    path: str = Field("/v1", max_length=256, pattern=r"^/.*$", description="API base path")
    api_key_secret_ref: SecretKeyRef | None = None
    tls_verify: bool = True
    timeouts: TimeoutPolicy = TimeoutPolicy()
    max_connections: int = Field(100, ge=1, le=10000)

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str | None) -> str | None:
        """The URL lands in the policy ConfigMap: no user:password@ in it."""
        if url is not None and "@" in url.partition("://")[2].partition("/")[0]:
            raise ValueError(URL_CREDENTIALS)
        return url

    @model_validator(mode="after")
    def _one_target(self) -> ModelEndpoint:
        targets = [self.service is not None, self.selector is not None, self.url is not None]
        if sum(targets) != 1:
            raise ValueError(EXACTLY_ONE_TARGET)
        if self.url is None and self.port is None:
            raise ValueError(PORT_REQUIRED)
        return self


class PrometheusSpec(SpecModel):
    """Where the operator reads metrics (load adaptation, canary analysis, savings)."""

    url: str | None = Field(
        None,
        max_length=2048,
        pattern=r"^https?://[^\s/]+(/.*)?$",
        description="Prometheus base URL, e.g. http://prometheus.monitoring:9090; the "
        "operator's --prometheus-url when unset",
    )
    bearer_token_secret_ref: SecretKeyRef | None = Field(
        None, description="a Secret key holding a bearer token sent with every query"
    )
    timeout_seconds: float = Field(5.0, gt=0, le=60, description="per query")


class LargeSpec(SpecModel):
    model: str = Field(..., min_length=1, max_length=256, description="model id the server expects")
    endpoint: ModelEndpoint
    pricing: PricingPolicy = PricingPolicy()
    energy: EnergyPolicy = EnergyPolicy()


class SmallVersionSpec(SpecModel):
    name: str = Field(..., min_length=1, max_length=MAX_VERSION_NAME, pattern=DNS_LABEL)
    weight: int = Field(100, ge=0, le=100, description="percent of small-model traffic")
    model: str | None = Field(
        None, min_length=1, max_length=256, description="model id; small.model when unset"
    )
    endpoint: ModelEndpoint
    shadow_percent: float | None = Field(
        None,
        ge=0.0,
        le=100.0,
        description="shadow share of requests that pick this version; policy.shadow.percent "
        "when unset (spec.canary sets canary.analysisShadowPercent for its candidate)",
    )


class DiscoverySpec(SpecModel):
    """Student versions published as Deployments: every Deployment in the route's
    namespace matching ``selector`` with a ``versionLabel`` label is version
    ``<label value>``; its pods must carry ``selector`` and the version label too (the
    operator's Service for the version selects them by these labels)."""

    selector: dict[str, str] = Field(
        ..., min_length=1, max_length=16, description="labels of the student Deployments"
    )
    version_label: str = Field(
        "version",
        min_length=1,
        max_length=63,
        pattern=r"^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
        description="the label whose value names the version (a DNS label of at most "
        f"{MAX_VERSION_NAME} characters; other values are ignored)",
    )
    port: int = Field(..., ge=1, le=65535, description="the model server's port in the pods")
    model: str | None = Field(
        None, min_length=1, max_length=256, description="model id; small.model when unset"
    )


class SmallSpec(SpecModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel("self.versions.map(v, v.weight).sum() == 100", WEIGHTS_SUM),
                _cel(
                    "self.versions.all(v, self.versions.exists_one(w, w.name == v.name))",
                    NAMES_UNIQUE,
                ),
            ]
        }
    )

    model: str = Field(..., min_length=1, max_length=256, description="default model id")
    versions: list[SmallVersionSpec] = Field(..., min_length=1, max_length=16)
    pricing: PricingPolicy = PricingPolicy()
    energy: EnergyPolicy = EnergyPolicy()
    discovery: DiscoverySpec | None = Field(
        None,
        description="find more versions from Deployments' labels (spec.canary analyses "
        "each new one); the versions listed here keep working and win over a discovered "
        "one of the same name",
    )

    @model_validator(mode="after")
    def _versions_consistent(self) -> SmallSpec:
        check_versions([v.name for v in self.versions], [v.weight for v in self.versions])
        return self


CONFIGMAP_NAME = r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$"
ONE_ARTIFACT_SOURCE = (
    "complexity: give scorerArtifact (a path in the router image) or "
    "scorerArtifactConfigMap, not both"
)
ARTIFACT_NEEDS_SCORER = "complexity.scorerArtifactConfigMap needs scorer learned or similarity"
ONE_EXAMPLES_SOURCE = "similarity: give examplesFile or examplesConfigMap, not both"


class ComplexitySpec(ComplexityPolicy):
    """Queries scoring at or above the threshold go to the large model; a trained scorer
    may come from a ConfigMap."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.scorerArtifact) || !has(self.scorerArtifactConfigMap)",
                    ONE_ARTIFACT_SOURCE,
                ),
                _cel(
                    "!has(self.scorerArtifactConfigMap) || "
                    "(has(self.scorer) && self.scorer != 'heuristic')",
                    ARTIFACT_NEEDS_SCORER,
                ),
            ]
        }
    )

    scorer_artifact_config_map: str | None = Field(
        None,
        min_length=1,
        max_length=253,
        pattern=CONFIGMAP_NAME,
        description="a ConfigMap in the route's namespace holding a trained scorer: keys "
        "scorer.json (data) and scorer.npz (binaryData), as `hybridroute train --configmap` "
        "writes it. Mounted into the router; a changed ConfigMap reloads the scorer",
    )

    @model_validator(mode="after")
    def _one_artifact_source(self) -> ComplexitySpec:
        if self.scorer_artifact_config_map is not None:
            if self.scorer_artifact is not None:
                raise ValueError(ONE_ARTIFACT_SOURCE)
            if self.scorer == "heuristic":
                raise ValueError(ARTIFACT_NEEDS_SCORER)
        return self


class SimilaritySpec(SimilarityPolicy):
    """Nearest-neighbour scoring against user-curated examples, inline or from a ConfigMap."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.examplesFile) || !has(self.examplesConfigMap)",
                    ONE_EXAMPLES_SOURCE,
                )
            ]
        }
    )

    examples_config_map: str | None = Field(
        None,
        min_length=1,
        max_length=253,
        pattern=CONFIGMAP_NAME,
        description="a ConfigMap in the route's namespace whose key examples.jsonl holds "
        'example queries, one JSON object a line: {"text": ..., "label": "simple"|"hard"} '
        "(added to examples). Mounted into the router; a changed ConfigMap reloads the scorer",
    )

    @model_validator(mode="after")
    def _one_examples_source(self) -> SimilaritySpec:
        if self.examples_config_map is not None and self.examples_file is not None:
            raise ValueError(ONE_EXAMPLES_SOURCE)
        return self


class PolicySpec(SpecModel):
    """The routing policy, exactly the router's own models."""

    public_model: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="model name clients ask for; the route name when unset",
    )
    complexity: ComplexitySpec = ComplexitySpec()
    similarity: SimilaritySpec = SimilaritySpec()
    confidence: ConfidencePolicy = ConfidencePolicy()
    tiers: TierPolicy = TierPolicy()
    shadow: ShadowPolicy = ShadowPolicy()
    retries: RetryPolicy = RetryPolicy()
    circuit_breaker: CircuitBreakerPolicy = CircuitBreakerPolicy()
    limits: LimitsPolicy = LimitsPolicy()
    logging: LoggingPolicy = LoggingPolicy()


class ResourceList(SpecModel):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(SpecModel):
    requests: ResourceList = ResourceList(cpu="100m", memory="128Mi")
    limits: ResourceList = ResourceList(memory="512Mi")


class Autoscaling(SpecModel):
    """A HorizontalPodAutoscaler for the router; it then owns the replica count."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [_cel("self.minReplicas <= self.maxReplicas", MIN_LE_MAX)]
        }
    )

    min_replicas: int = Field(2, ge=1, le=100)
    max_replicas: int = Field(10, ge=1, le=100)
    target_cpu_utilization_percentage: int = Field(
        70, ge=1, le=100, alias="targetCPUUtilizationPercentage"
    )

    @model_validator(mode="after")
    def _min_le_max(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(MIN_LE_MAX)
        return self


class TracingSpec(SpecModel):
    """OpenTelemetry traces of the router (request, decision, upstream spans), sent with
    OTLP over HTTP (protobuf). Rendered as the standard OTEL_* environment variables."""

    otlp_endpoint: str = Field(
        ...,
        max_length=2048,
        pattern=r"^https?://[^\s/@]+(/.*)?$",
        description="base URL of an OTLP/HTTP receiver, e.g. "
        "http://otel-collector.monitoring:4318 (spans go to <url>/v1/traces)",
    )
    sampling_ratio: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="share of new traces sampled; a request whose traceparent says "
        "sampled is always traced (parent-based)",
    )
    service_name: str = Field(
        "hybridroute-router", min_length=1, max_length=256, description="service.name of spans"
    )


class RouterSpec(SpecModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    f"!has(self.adminPort) || self.adminPort != {ROUTER_PORT}",
                    ADMIN_PORT_DISTINCT,
                )
            ]
        }
    )

    replicas: int = Field(2, ge=1, le=100)
    image: str = Field(DEFAULT_ROUTER_IMAGE, min_length=1, max_length=512)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    resources: Resources = Resources()
    autoscaling: Autoscaling | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    feedback_token_secret_ref: SecretKeyRef | None = Field(
        None,
        description="POST /v1/feedback then needs this bearer token "
        "(the router's --feedback-token-file); by default feedback is open",
    )
    hash_key_secret_ref: SecretKeyRef | None = Field(
        None,
        description="a secret of at least 16 bytes keying the sticky version hash and the "
        "logs' prompt_hmac (the router's --hash-key-file), the same for every replica",
    )
    admin_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="serve /metrics, /healthz and /readyz only on this port (the router's "
        "--admin-port; probes and the ServiceMonitor follow); by default on the API port",
    )
    tracing: TracingSpec | None = Field(
        None, description="export OpenTelemetry traces over OTLP/HTTP; off when unset"
    )

    @model_validator(mode="after")
    def _admin_port_distinct(self) -> RouterSpec:
        if self.admin_port == ROUTER_PORT:
            raise ValueError(ADMIN_PORT_DISTINCT)
        return self


class MonitoringSpec(SpecModel):
    service_monitor: bool = Field(
        True, description="create a ServiceMonitor when the monitoring.coreos.com CRDs exist"
    )
    interval: str = Field("30s", pattern=r"^[0-9]+(s|m)$")


DURATION = r"^[0-9]+(s|m|h)$"
STEPS_INCREASING = "canary.stepWeights must be strictly increasing (e.g. [5, 10, 25, 50])"
LATENCY_BOUND = "canary.checks.p99Latency needs maxSeconds or maxRatioToStable"
ESCALATION_BOUND = "canary.checks.escalationRate needs max or maxRatioToStable"
CUSTOM_BOUND = "a custom check needs min or max"
AGREEMENT_BOUND = "canary.checks.shadowAgreement needs min or minRatioToStable"
CUSTOM_MIN_LE_MAX = "a custom check's min must be <= its max"
CUSTOM_NAMES_UNIQUE = "canary.checks.custom names must be unique"


def duration_seconds(text: str) -> float:
    """Seconds of a duration such as ``30s``, ``5m`` or ``1h`` (the ``DURATION`` pattern)."""
    return float(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[text[-1]]


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


class HybridRouteSpec(SpecModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.adaptation) || !has(self.adaptation.threshold) || "
                    "!has(self.policy) || !has(self.policy.complexity) || "
                    "!has(self.policy.complexity.threshold) || "
                    "(self.adaptation.threshold.min <= self.policy.complexity.threshold && "
                    "self.policy.complexity.threshold <= self.adaptation.threshold.max)",
                    ADAPT_BASELINE_IN_BOUNDS,
                )
            ]
        }
    )

    large: LargeSpec
    small: SmallSpec
    policy: PolicySpec = PolicySpec()
    router: RouterSpec = RouterSpec()
    monitoring: MonitoringSpec = MonitoringSpec()
    canary: CanarySpec | None = Field(
        None, description="canary analysis and promotion of new small versions"
    )
    adaptation: AdaptationSpec | None = Field(
        None, description="move the complexity threshold with the large model's load"
    )

    @model_validator(mode="after")
    def _baseline_in_bounds(self) -> HybridRouteSpec:
        bounds = self.adaptation.threshold if self.adaptation is not None else None
        if bounds is not None and not bounds.min <= self.policy.complexity.threshold <= bounds.max:
            raise ValueError(ADAPT_BASELINE_IN_BOUNDS)
        return self


class SpecError(ValueError):
    """A spec the operator cannot use, with a message a person can act on."""


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        msg = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"spec.{where}: {msg}")
    return "; ".join(parts)


def parse_spec(raw: Mapping[str, Any]) -> HybridRouteSpec:
    try:
        return HybridRouteSpec.model_validate(dict(raw))
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc)) from exc
