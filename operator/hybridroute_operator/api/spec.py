"""The HybridRoute spec: the router policy models from ``hybridroute_policy`` plus what only
the cluster needs (model endpoints, small-model versions, the router Deployment). The
``canary`` and ``adaptation`` sections live in modules of their own (``api.canary``,
``api.adaptation``) and are re-exported here with the shared blocks of ``api.base``.

The same models validate specs in the operator and generate the CRD's OpenAPI schema
(``hybridroute_operator.crdgen``). Cross-field rules are written twice, on purpose: as a
pydantic validator (the operator's own check) and as a CEL rule in ``json_schema_extra``
(the API server's check, with the same message).
"""

from __future__ import annotations

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
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hybridroute_operator.api.adaptation import (
    ADAPT_BASELINE_IN_BOUNDS,
    ADAPT_MIN_LE_MAX,
    ADAPT_NEEDS_INPUT,
    BUDGET_NEEDS_LIMIT,
    QUERY_FIELD,
    AdaptationSpec,
    BudgetSpec,
    SignalSpec,
    SignalsSpec,
    ThresholdBoundsSpec,
)
from hybridroute_operator.api.base import (
    DNS_LABEL,
    DURATION,
    PrometheusSpec,
    SecretKeyRef,
    SpecModel,
    duration_seconds,
)
from hybridroute_operator.api.base import cel as _cel
from hybridroute_operator.api.canary import (
    AGREEMENT_BOUND,
    CUSTOM_BOUND,
    CUSTOM_MIN_LE_MAX,
    CUSTOM_NAMES_UNIQUE,
    ESCALATION_BOUND,
    LATENCY_BOUND,
    STEPS_INCREASING,
    CanaryChecks,
    CanarySpec,
    Check,
    CustomCheck,
    ErrorRateCheck,
    EscalationRateCheck,
    FeedbackScoreCheck,
    LatencyCheck,
    ShadowAgreementCheck,
)
from hybridroute_operator.api.constants import MAX_VERSION_NAME, ROUTER_PORT

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
ARTIFACT_NEEDS_SCORER = (
    "complexity.scorerArtifactConfigMap needs scorer auto, learned or similarity"
)
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


__all__ = [
    "ADAPT_BASELINE_IN_BOUNDS",
    "ADAPT_MIN_LE_MAX",
    "ADAPT_NEEDS_INPUT",
    "ADMIN_PORT_DISTINCT",
    "AGREEMENT_BOUND",
    "ARTIFACT_NEEDS_SCORER",
    "BUDGET_NEEDS_LIMIT",
    "CONFIGMAP_NAME",
    "CUSTOM_BOUND",
    "CUSTOM_MIN_LE_MAX",
    "CUSTOM_NAMES_UNIQUE",
    "DEFAULT_ROUTER_IMAGE",
    "DNS_LABEL",
    "DURATION",
    "ESCALATION_BOUND",
    "EXACTLY_ONE_TARGET",
    "LATENCY_BOUND",
    "MIN_LE_MAX",
    "ONE_ARTIFACT_SOURCE",
    "ONE_EXAMPLES_SOURCE",
    "PORT_REQUIRED",
    "QUERY_FIELD",
    "STEPS_INCREASING",
    "URL_CREDENTIALS",
    "AdaptationSpec",
    "Autoscaling",
    "BudgetSpec",
    "CanaryChecks",
    "CanarySpec",
    "Check",
    "ComplexitySpec",
    "CustomCheck",
    "DiscoverySpec",
    "ErrorRateCheck",
    "EscalationRateCheck",
    "FeedbackScoreCheck",
    "HybridRouteSpec",
    "LargeSpec",
    "LatencyCheck",
    "ModelEndpoint",
    "MonitoringSpec",
    "PolicySpec",
    "PrometheusSpec",
    "ResourceList",
    "Resources",
    "RouterSpec",
    "SecretKeyRef",
    "ShadowAgreementCheck",
    "SignalSpec",
    "SignalsSpec",
    "SimilaritySpec",
    "SmallSpec",
    "SmallVersionSpec",
    "SpecError",
    "SpecModel",
    "ThresholdBoundsSpec",
    "TracingSpec",
    "describe_validation_error",
    "duration_seconds",
    "parse_spec",
]
