"""Policy models. Field names are camelCase on the wire (Kubernetes convention) and
snake_case in Python. Keep these free of router internals: the operator renders them and
the CRD schema is generated from them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Percent = Annotated[int, Field(ge=0, le=100)]
NonNegative = Annotated[float, Field(ge=0.0)]
SHA256 = r"^[0-9a-f]{64}$"
Name = Annotated[
    str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]


class PolicyModel(BaseModel):
    """Base: camelCase aliases, unknown fields rejected, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class PricingPolicy(PolicyModel):
    """Price in USD per 1,000 tokens."""

    input_per_1k_tokens: NonNegative = Field(0.0, alias="inputPer1kTokens")
    output_per_1k_tokens: NonNegative = Field(0.0, alias="outputPer1kTokens")


class EnergyPolicy(PolicyModel):
    """Energy in joules per 1,000 tokens (prompt and completion together)."""

    joules_per_1k_tokens: NonNegative = Field(0.0, alias="joulesPer1kTokens")


class ApiKeySource(PolicyModel):
    """Where the router reads an upstream API key. The key itself never appears in a
    policy: either an environment variable or a file (a mounted Secret)."""

    env: str | None = Field(None, min_length=1, description="environment variable name")
    file: str | None = Field(None, min_length=1, description="path of a file holding the key")

    @model_validator(mode="after")
    def _exactly_one(self) -> ApiKeySource:
        if (self.env is None) == (self.file is None):
            raise ValueError("apiKey needs exactly one of 'env' or 'file'")
        return self


class TimeoutPolicy(PolicyModel):
    connect_seconds: float = Field(2.0, gt=0, le=60)
    read_seconds: float = Field(
        60.0, gt=0, le=3600, description="time to first byte and between bytes"
    )


class Upstream(PolicyModel):
    """An OpenAI-compatible server: an in-cluster Service or an external API."""

    base_url: str = Field(
        ...,
        pattern=r"^https?://[^\s/@]+(/.*)?$",
        description="e.g. http://support-large:8000/v1; no credentials (use apiKey)",
    )
    model: str = Field(..., min_length=1, description="model id the upstream expects")
    api_key: ApiKeySource | None = None
    tls_verify: bool = True
    timeouts: TimeoutPolicy = TimeoutPolicy()
    max_connections: int = Field(100, ge=1, le=10000)

    @field_validator("base_url", mode="before")
    @classmethod
    def _no_credentials(cls, value: object) -> object:
        if isinstance(value, str) and "@" in value.partition("://")[2].partition("/")[0]:
            raise ValueError("baseUrl must not carry credentials (user:password@host): use apiKey")
        return value


class LargeModel(PolicyModel):
    upstream: Upstream
    pricing: PricingPolicy = PricingPolicy()
    energy: EnergyPolicy = EnergyPolicy()


class SmallVersion(PolicyModel):
    name: Name
    weight: Percent = 100
    ready: bool = Field(True, description="never routed to when false")
    shadow_percent: float | None = Field(
        None,
        ge=0.0,
        le=100.0,
        description="shadow share of requests that pick this version (a canary under "
        "analysis); shadow.percent when unset",
    )
    upstream: Upstream


WEIGHTS_SUM = "small.versions weights must sum to 100"
NAMES_UNIQUE = "small.versions names must be unique"


def check_versions(names: list[str], weights: list[int]) -> None:
    """The rules small-model versions obey wherever they are written (policy or CRD)."""
    if len(set(names)) != len(names):
        raise ValueError(f"{NAMES_UNIQUE}, got {names}")
    if sum(weights) != 100:
        raise ValueError(f"{WEIGHTS_SUM}, got {sum(weights)}")


class SmallModel(PolicyModel):
    versions: list[SmallVersion] = Field(..., min_length=1)
    pricing: PricingPolicy = PricingPolicy()
    energy: EnergyPolicy = EnergyPolicy()

    @model_validator(mode="after")
    def _versions_consistent(self) -> SmallModel:
        check_versions([v.name for v in self.versions], [v.weight for v in self.versions])
        return self


class ScorerName(StrEnum):
    AUTO = "auto"
    HEURISTIC = "heuristic"
    LEARNED = "learned"
    SIMILARITY = "similarity"


class ComplexityPolicy(PolicyModel):
    """Queries scoring at or above the threshold go to the large model."""

    threshold: Fraction = 0.5
    scorer: ScorerName = Field(
        ScorerName.AUTO,
        description="auto: the learned scorer on exam-style questions, the heuristic on "
        "the rest, on one scale (P(small fails)); heuristic, learned or similarity alone",
    )
    scorer_artifact: str | None = Field(
        None, description="path of a trained scorer artifact; the shipped default when unset"
    )
    scorer_artifact_sha256: str | None = Field(
        None,
        pattern=SHA256,
        description="sha256 of the artifact's NAME.json and NAME.npz bytes, concatenated: "
        "the router uses no other (it keeps its last good scorer until the files match)",
    )
    tier_thresholds: dict[str, Fraction] = Field(
        default_factory=dict,
        max_length=64,
        description="a threshold of their own for tiers without a tier rule (auto): their "
        "requests are compared with it instead of threshold. Load adaptation moves only "
        "threshold, so a tier listed here keeps its value (exempt from adaptation)",
    )


class ExamplePolicy(PolicyModel):
    text: str = Field(..., min_length=1, max_length=8192)
    label: Literal["simple", "hard"]


class SimilarityPolicy(PolicyModel):
    """Nearest-neighbour scoring against user-curated examples."""

    examples: list[ExamplePolicy] = Field(default_factory=list, max_length=2000)
    k: int = Field(5, ge=1, le=50)
    weight: Fraction = Field(0.5, description="share of the similarity score in the blend")
    examples_file: str | None = Field(
        None,
        description='path of more examples, JSON lines {"text": ..., "label": "simple"|"hard"}',
    )
    examples_sha256: str | None = Field(
        None,
        pattern=SHA256,
        description="sha256 of examplesFile: the router uses no other (it keeps its last "
        "good scorer until the file matches)",
    )


class ConfidencePolicy(PolicyModel):
    """Confidence cascade: ask the small model first, escalate below the threshold."""

    enabled: bool = False
    min_mean_logprob: float = Field(-0.4, le=0.0)
    streaming: Literal["skip", "buffer"] = Field(
        "skip",
        description="skip: stream straight from the routed model; "
        "buffer: decide before the first byte",
    )


class TierRule(StrEnum):
    LARGE = "large"
    SMALL = "small"
    PREFER_SMALL = "prefer-small"
    AUTO = "auto"


class TierPolicy(PolicyModel):
    """Priority tiers from a trusted source only."""

    header: str | None = Field(
        None, description="header carrying the tier, e.g. x-hybridroute-tier"
    )
    trust_header: bool = Field(False, description="honour the header; off unless a gateway sets it")
    api_key_sha256: dict[str, str] = Field(
        default_factory=dict, description="sha256 hex of a client API key -> tier name"
    )
    rules: dict[str, TierRule] = Field(
        default_factory=lambda: {"critical": TierRule.LARGE, "free": TierRule.PREFER_SMALL}
    )
    default: str | None = None


class ShadowPolicy(PolicyModel):
    percent: float = Field(0.0, ge=0.0, le=100.0)
    max_concurrency: int = Field(4, ge=1, le=256)
    queue_size: int = Field(100, ge=1, le=10000)
    comparator: Literal["exact", "token-overlap", "final-answer"] = Field(
        "token-overlap",
        description="how a shadow pair is judged: exact (normalized text), token-overlap "
        "(token F1) or final-answer (the stated option letter or number; token F1 when "
        "either answer states none); see docs/router.md",
    )
    agreement_threshold: Fraction = 0.6


class RetryPolicy(PolicyModel):
    attempts: int = Field(2, ge=1, le=5, description="attempts per upstream, first included")
    budget_percent: float = Field(
        20.0, ge=0.0, le=100.0, description="retries as a share of requests"
    )


class CircuitBreakerPolicy(PolicyModel):
    failure_threshold: int = Field(5, ge=1, le=1000)
    open_seconds: float = Field(10.0, gt=0, le=3600)


class LimitsPolicy(PolicyModel):
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    max_in_flight: int = Field(1024, ge=1, le=100_000)
    max_large_in_flight: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="per router replica: with this many requests in flight to the large "
        "model, a request the complexity score would send large goes small instead "
        "(reason large_in_flight_cap); tier rules still win. Guards spikes shorter than "
        "load adaptation's interval. Off when unset",
    )


class LoggingPolicy(PolicyModel):
    log_prompts: bool = False
    decision_log: str | None = Field(None, description="JSONL path; stdout when unset")
    feedback_log: str | None = Field(None, description="JSONL path of the feedback log")


class Policy(PolicyModel):
    """What the router loads: the routing policy plus the upstreams to call."""

    route: Name = Field("default", description="route name, used as a metrics label")
    public_model: str = Field("hybrid", min_length=1, description="model name clients ask for")
    large: LargeModel
    small: SmallModel
    complexity: ComplexityPolicy = ComplexityPolicy()
    similarity: SimilarityPolicy = SimilarityPolicy()
    confidence: ConfidencePolicy = ConfidencePolicy()
    tiers: TierPolicy = TierPolicy()
    shadow: ShadowPolicy = ShadowPolicy()
    retries: RetryPolicy = RetryPolicy()
    circuit_breaker: CircuitBreakerPolicy = CircuitBreakerPolicy()
    limits: LimitsPolicy = LimitsPolicy()
    logging: LoggingPolicy = LoggingPolicy()
