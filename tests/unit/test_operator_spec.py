"""The HybridRoute spec models: what the operator accepts and the messages it gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hybridroute_operator.api import HybridRouteSpec, SpecError, parse_spec

pytestmark = pytest.mark.unit
EXAMPLE = Path(__file__).resolve().parents[2] / "examples/02-hybridroute/hybridroute.yaml"


def example_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["spec"]
    return spec


def test_example_hybridroute_parses() -> None:
    spec = parse_spec(example_spec())
    assert [v.name for v in spec.small.versions] == ["v3", "v4"]
    assert spec.large.endpoint.selector == {"app": "llama-70b"}
    assert spec.policy.complexity.threshold == 0.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["small"]["versions"][0].update(weight=50), "weights must sum to 100, got 60"),
        (lambda s: s["small"]["versions"][1].update(name="v3"), "names must be unique"),
        (
            lambda s: s["large"]["endpoint"].update(service="big"),
            "exactly one of service, selector or url",
        ),
        (lambda s: s["large"]["endpoint"].pop("port"), "endpoint.port is required"),
        (
            lambda s: s["router"].update(autoscaling={"minReplicas": 5, "maxReplicas": 2}),
            "minReplicas must be <= maxReplicas",
        ),
        (
            lambda s: s["policy"]["complexity"].update(threshold=1.5),
            "spec.policy.complexity.threshold",
        ),
        (lambda s: s.update(surprise=True), "spec.surprise: Extra inputs are not permitted"),
        (
            lambda s: s["large"].update(endpoint={"url": "https://user:pw@api.example.com/v1"}),
            "must not carry credentials .* use apiKeySecretRef",
        ),
    ],
)
def test_invalid_specs_are_rejected_with_a_readable_message(change: Any, message: str) -> None:
    spec = example_spec()
    change(spec)
    with pytest.raises(SpecError, match=message):
        parse_spec(spec)


def test_external_url_needs_no_port_and_may_carry_a_secret_ref() -> None:
    spec = example_spec()
    spec["large"]["endpoint"] = {
        "url": "https://api.example.com/v1",
        "apiKeySecretRef": {"name": "openai", "key": "api-key"},
    }
    parsed = HybridRouteSpec.model_validate(spec)
    assert parsed.large.endpoint.api_key_secret_ref is not None


def test_an_at_sign_in_the_url_path_is_not_taken_for_credentials() -> None:
    spec = example_spec()
    spec["large"]["endpoint"] = {"url": "https://api.example.com/v1/@team"}
    assert HybridRouteSpec.model_validate(spec).large.endpoint.url is not None


def test_a_prometheus_url_with_credentials_is_refused_with_the_secret_way_out() -> None:
    spec = example_spec()
    spec["adaptation"] = {
        "prometheus": {"url": "http://admin:hunter2@prometheus.monitoring:9090"},
        "signals": {"queueDepth": {"target": 5}},
    }
    with pytest.raises(SpecError, match="bearerTokenSecretRef"):
        parse_spec(spec)
    spec["adaptation"]["prometheus"]["url"] = "http://prometheus.monitoring:9090/@team"
    assert parse_spec(spec).adaptation is not None


def test_the_crd_refuses_prometheus_credentials_too() -> None:
    crd = yaml.safe_load((EXAMPLE.parents[2] / "crds/hybridroute.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for section in ("adaptation", "canary"):
        rules = spec["properties"][section]["properties"]["prometheus"]["x-kubernetes-validations"]
        assert [r["message"].split(" (")[0] for r in rules] == [
            "prometheus.url must not carry credentials"
        ], section
