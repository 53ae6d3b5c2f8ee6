"""spec.router.tracing renders the standard OpenTelemetry variables into the router's
Deployment, and the router reads them (pure; the export itself is tested in
tests/integration/test_router_otlp.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hybridroute_operator.api import SpecError, parse_spec
from hybridroute_operator.render import RouteRef
from hybridroute_operator.render.router import build_deployment
from hybridroute_router.telemetry.tracing import sample_ratio_from_env

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
ROUTE = RouteRef(name="support", namespace="llm", uid="uid-1")


def spec(**router: Any) -> Any:
    raw = yaml.safe_load((ROOT / "examples/02-hybridroute/hybridroute.yaml").read_text())
    raw["spec"].setdefault("router", {}).update(router)
    return parse_spec(raw["spec"])


def env_of(manifest: dict[str, Any]) -> dict[str, Any]:
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_tracing_renders_the_otlp_http_exporter_and_parent_based_sampling() -> None:
    tracing = {"otlpEndpoint": "http://otel-collector.monitoring:4318", "samplingRatio": 0.25}
    env = env_of(build_deployment(ROUTE, spec(tracing=tracing)))
    assert env["OTEL_TRACES_EXPORTER"] == "otlp"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.monitoring:4318"
    assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
    assert env["OTEL_SERVICE_NAME"] == "hybridroute-router"
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == (
        "k8s.namespace.name=llm,k8s.pod.name=$(POD_NAME),hybridroute.route=support"
    )
    # what the router makes of them
    assert sample_ratio_from_env(env) == 0.25


def test_service_name_is_configurable() -> None:
    tracing = {"otlpEndpoint": "https://collector:4318", "serviceName": "support-router"}
    assert env_of(build_deployment(ROUTE, spec(tracing=tracing)))["OTEL_SERVICE_NAME"] == (
        "support-router"
    )


def test_no_tracing_no_env() -> None:
    container = build_deployment(ROUTE, spec())["spec"]["template"]["spec"]["containers"][0]
    assert "env" not in container


@pytest.mark.parametrize(
    "tracing",
    [
        {"otlpEndpoint": "collector:4318"},  # no scheme
        {"otlpEndpoint": "http://user:pw@collector:4318"},  # credentials in the URL
        {"otlpEndpoint": "http://collector:4318", "samplingRatio": 1.5},
        {"samplingRatio": 0.1},  # no endpoint
    ],
)
def test_bad_tracing_settings_are_rejected(tracing: dict[str, Any]) -> None:
    with pytest.raises(SpecError, match=r"spec\.router\.tracing"):
        spec(tracing=tracing)


@pytest.mark.parametrize(
    ("env", "ratio"),
    [
        ({}, 0.05),
        (
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"},
            0.5,
        ),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_on"}, 1.0),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, 0.0),
    ],
)
def test_router_reads_the_standard_sampler_variables(env: dict[str, str], ratio: float) -> None:
    assert sample_ratio_from_env(env) == ratio


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_SAMPLER": "jaeger_remote"},
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
        {"OTEL_TRACES_SAMPLER_ARG": "half"},
    ],
)
def test_router_refuses_sampler_settings_it_cannot_honour(env: dict[str, str]) -> None:
    with pytest.raises(SystemExit, match="OTEL_TRACES_SAMPLER"):
        sample_ratio_from_env(env)
