"""The rendered router policy carries only what a route sets, so a router older than the
operator accepts the policy of a route that uses none of the newer policy fields."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from hybridroute_operator.api import parse_spec
from hybridroute_operator.observed import LARGE, EndpointHealth, Observed, small_target
from hybridroute_operator.render import RouteRef, build_policy, render
from hybridroute_operator.render.policy import build_policy_configmap
from hybridroute_policy import parse_policy
from hybridroute_router.policy_source.file import marker_path
from hybridroute_router.policy_source.reloader import PolicyDocument, read_policy
from pydantic import ValidationError

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
OLD_MODELS = Path(__file__).parent / "snapshots" / "policy_models_cff38be.py"
ROUTE = RouteRef(name="support", namespace="llm", uid="uid-1", generation=1)
READY = Observed(
    endpoints={
        LARGE: EndpointHealth(ready=1, total=1),
        small_target("v1"): EndpointHealth(ready=1, total=1),
        small_target("v3"): EndpointHealth(ready=1, total=1),
        small_target("v4"): EndpointHealth(ready=0, total=1),
    }
)
PLAIN: dict[str, Any] = {
    "large": {"model": "big", "endpoint": {"selector": {"app": "big"}, "port": 8000}},
    "small": {
        "model": "student",
        "versions": [
            {"name": "v1", "weight": 100, "endpoint": {"selector": {"app": "s"}, "port": 8000}}
        ],
    },
}


def example() -> dict[str, Any]:
    raw = (ROOT / "examples/02-hybridroute/hybridroute.yaml").read_text(encoding="utf-8")
    spec: dict[str, Any] = yaml.safe_load(raw)["spec"]
    return spec


def old_models() -> ModuleType:
    """The policy models of an older router, loaded from their snapshot."""
    name = "policy_models_cff38be"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, OLD_MODELS)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # pydantic resolves the annotations through it
        spec.loader.exec_module(module)
    return sys.modules[name]


def rendered(spec: dict[str, Any]) -> str:
    cm = build_policy_configmap(ROUTE, build_policy(ROUTE, parse_spec(spec), READY))
    text: str = cm["data"]["policy.yaml"]
    return text


def routed_scorer(text: str, marker: str | None) -> str:
    """The scorer a router following the policy ConfigMap (API or mounted) reads."""
    policy, _ = read_policy(PolicyDocument(text, marker), source="cm", from_configmap=True)
    return str(policy.complexity.scorer)


def leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, f"{path}[{i}]")
    else:
        yield path, node


@pytest.mark.parametrize("spec", [PLAIN, example()], ids=["plain", "example"])
def test_policy_of_a_plain_route_has_no_null_and_parses_to_what_was_built(
    spec: dict[str, Any],
) -> None:
    text = rendered(spec)
    nulls = [path for path, value in leaves(yaml.safe_load(text)) if value is None]
    assert nulls == []
    built = build_policy(ROUTE, parse_spec(spec), READY)
    assert parse_policy(text) == built  # nothing lost by leaving defaults out


@pytest.mark.parametrize("spec", [PLAIN, example()], ids=["plain", "example"])
def test_an_older_router_accepts_the_policy_of_a_route_without_newer_fields(
    spec: dict[str, Any],
) -> None:
    old = old_models().Policy.model_validate(yaml.safe_load(rendered(spec)))
    new = parse_policy(rendered(spec))
    # the one changed default (issue 11): a route left at it scores with auto in a new
    # router and with that router's own default, the heuristic, in an older one
    assert str(old.complexity.scorer) == "heuristic"
    assert old.model_dump(
        mode="json", by_alias=True, exclude={"complexity": {"scorer"}}
    ) == new.model_dump(
        mode="json",
        by_alias=True,
        exclude={"complexity": {"scorer", "scorer_artifact_sha256", "tier_thresholds"}}
        | {
            "similarity": {"examples_file", "examples_sha256"},
            "limits": {"max_large_in_flight"},
            "small": {"versions": {"__all__": {"shadow_percent"}}},
        },
    )


def test_a_value_set_to_something_other_than_the_default_is_rendered() -> None:
    spec = {
        **PLAIN,
        "policy": {
            "complexity": {"threshold": 0.7},
            "tiers": {"rules": {}},  # no tier rules at all: not the default rules
            "retries": {"attempts": 1},
        },
    }
    doc = yaml.safe_load(rendered(spec))
    assert doc["complexity"] == {"threshold": 0.7}
    assert doc["tiers"] == {"rules": {}}
    assert doc["retries"] == {"attempts": 1}
    assert parse_policy(rendered(spec)).tiers.rules == {}


def test_a_route_using_a_newer_field_still_needs_the_newer_router() -> None:
    spec = {**PLAIN, "policy": {"limits": {"maxLargeInFlight": 8}}}
    assert parse_policy(rendered(spec)).limits.max_large_in_flight == 8
    with pytest.raises(ValidationError, match="maxLargeInFlight"):
        old_models().Policy.model_validate(yaml.safe_load(rendered(spec)))


def test_a_route_keeping_the_heuristic_renders_it_and_every_router_uses_it() -> None:
    """Routes stored before the default became ``auto`` hold ``scorer: heuristic`` (the
    API server wrote the CRD's old default into them): the policy names it, so an older
    and a newer router both keep scoring with the heuristic."""
    spec = {**PLAIN, "policy": {"complexity": {"scorer": "heuristic"}}}
    doc = yaml.safe_load(rendered(spec))
    assert doc["complexity"] == {"scorer": "heuristic"}
    assert parse_policy(rendered(spec)).complexity.scorer == "heuristic"
    assert str(old_models().Policy.model_validate(doc).complexity.scorer) == "heuristic"


def test_a_route_left_at_the_default_scorer_renders_no_scorer() -> None:
    doc = yaml.safe_load(rendered(PLAIN))
    assert "scorer" not in doc.get("complexity", {})
    assert parse_policy(rendered(PLAIN)).complexity.scorer == "auto"


def test_a_route_naming_auto_renders_as_the_default_and_an_older_router_uses_the_heuristic() -> (
    None
):
    """The API server stores a defaulted ``auto`` and a written one alike, and the policy
    leaves defaults out: naming ``auto`` does not make an older router refuse the policy,
    it scores with its own default (docs/router.md, "Upgrading: the default scorer")."""
    doc = yaml.safe_load(rendered({**PLAIN, "policy": {"complexity": {"scorer": "auto"}}}))
    assert "scorer" not in doc.get("complexity", {})
    assert str(old_models().Policy.model_validate(doc).complexity.scorer) == "heuristic"


def test_the_configmap_names_the_defaults_its_policy_leaves_out() -> None:
    cm = build_policy_configmap(ROUTE, build_policy(ROUTE, parse_spec(PLAIN), READY))
    assert cm["data"]["policy-defaults"] == "2"
    assert routed_scorer(cm["data"]["policy.yaml"], cm["data"]["policy-defaults"]) == "auto"


def test_an_older_operator_leaves_out_scorer_heuristic_and_a_newer_router_keeps_it() -> None:
    """The other order: an operator older than the router renders ``scorer: heuristic`` as
    its default, left out, and writes no ``policy-defaults``: a newer router reads that
    ConfigMap with the defaults of then, so the route keeps the heuristic; once the
    operator is upgraded it renders the scorer and the marker (docs/router.md)."""
    stored = {**PLAIN, "policy": {"complexity": {"scorer": "heuristic"}}}
    built = old_models().Policy.model_validate(yaml.safe_load(rendered(stored)))
    by_old_operator = yaml.safe_dump(
        built.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    )
    assert "scorer" not in yaml.safe_load(by_old_operator).get("complexity", {})
    assert routed_scorer(by_old_operator, None) == "heuristic"
    assert routed_scorer(rendered(stored), "2") == "heuristic"  # once upgraded
    assert routed_scorer(rendered(PLAIN), "2") == "auto"  # a route at today's default


def test_the_router_finds_the_marker_beside_its_mounted_policy() -> None:
    """The mounted fallback: the router's volume holds every key of the ConfigMap (no
    ``items``), so ``policy-defaults`` is a file beside the ``--policy`` file."""
    children = render(ROUTE, parse_spec(PLAIN), READY)
    deployment = next(c for c in children if c["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "policy")
    assert volume == {"name": "policy", "configMap": {"name": "support-policy"}}
    container = pod["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "policy")
    policy_file = container["args"][container["args"].index("--policy") + 1]
    assert policy_file == f"{mount['mountPath']}/policy.yaml"
    assert str(marker_path(policy_file)) == f"{mount['mountPath']}/policy-defaults"
