"""Building blocks shared by the spec's sections: the model base class, CEL rule helper,
Secret references, Prometheus settings and durations."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DURATION = r"^[0-9]+(s|m|h)$"


def cel(rule: str, message: str) -> JsonValue:
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


PROMETHEUS_URL_CREDENTIALS = (
    "prometheus.url must not carry credentials (user:password@host): it appears in status "
    "messages and logs; put a token in a Secret and use bearerTokenSecretRef"
)


class PrometheusSpec(SpecModel):
    """Where the operator reads metrics (load adaptation, canary analysis, savings)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.url) || !self.url.matches('^[^:]*://[^/]*@')",
                    PROMETHEUS_URL_CREDENTIALS,
                )
            ]
        }
    )

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

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str | None) -> str | None:
        if url is not None and "@" in url.partition("://")[2].partition("/")[0]:
            raise ValueError(PROMETHEUS_URL_CREDENTIALS)
        return url


def duration_seconds(text: str) -> float:
    """Seconds of a duration such as ``30s``, ``5m`` or ``1h`` (the ``DURATION`` pattern)."""
    return float(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[text[-1]]
