"""Pure render functions: a HybridRoute -> its children (no cluster needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hybridroute_operator.api import SpecError, parse_spec
from hybridroute_operator.observed import EXTERNAL, LARGE, EndpointHealth, Observed, small_target
from hybridroute_operator.render import RouteRef, build_policy, render
from hybridroute_operator.render.models import build_model_services
from hybridroute_operator.render.policy import build_policy_configmap
from hybridroute_operator.render.router import (
    build_deployment,
    build_hpa,
    build_pdb,
    build_role,
    build_role_binding,
    build_router_service,
    build_service_monitor,
)
from hybridroute_policy import parse_policy
from hybridroute_router.cli import parser as router_parser

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).parent / "snapshots" / "operator_render_support.yaml"
ROUTE = RouteRef(name="support", namespace="llm", uid="uid-1", generation=3)
ALL_READY = Observed(
    endpoints={
        LARGE: EndpointHealth(ready=1, total=1),
        small_target("v3"): EndpointHealth(ready=2, total=2),
        small_target("v4"): EndpointHealth(ready=1, total=1),
    }
)


def example() -> dict[str, Any]:
    raw = (ROOT / "examples/02-hybridroute/hybridroute.yaml").read_text(encoding="utf-8")
    spec: dict[str, Any] = yaml.safe_load(raw)["spec"]
    return spec


def by_kind(children: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for child in children:
        out.setdefault(child["kind"], []).append(child)
    return out


def test_render_matches_the_reviewed_snapshot() -> None:
    children = render(ROUTE, parse_spec(example()), ALL_READY)
    text = yaml.safe_dump_all(children, sort_keys=True)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8"), "run with UPDATE_SNAPSHOTS=1 and review"


def test_every_child_is_owned_by_the_route_and_labelled() -> None:
    for child in render(ROUTE, parse_spec(example()), ALL_READY):
        meta = child["metadata"]
        assert meta["namespace"] == "llm"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "inferensys.io/v1alpha1",
                "kind": "HybridRoute",
                "name": "support",
                "uid": "uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert meta["labels"]["inferensys.io/route"] == "support"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "hybridroute-operator"


def test_children_names() -> None:
    names = {
        (c["kind"], c["metadata"]["name"]) for c in render(ROUTE, parse_spec(example()), ALL_READY)
    }
    assert names == {
        ("ServiceAccount", "support-router"),
        ("Role", "support-router"),
        ("RoleBinding", "support-router"),
        ("ConfigMap", "support-policy"),
        ("Service", "support-large"),
        ("Service", "support-small-v3"),
        ("Service", "support-small-v4"),
        ("Service", "support-router"),
        ("Deployment", "support-router"),
        ("PodDisruptionBudget", "support-router"),
    }


def test_policy_configmap_holds_a_valid_router_policy() -> None:
    spec = parse_spec(example())
    cm = build_policy_configmap(ROUTE, build_policy(ROUTE, spec, ALL_READY))
    policy = parse_policy(cm["data"]["policy.yaml"])
    assert policy.route == "support"
    assert policy.public_model == "support-hybrid"
    assert policy.large.upstream.base_url == "http://support-large.llm.svc:8000/v1"
    assert [(v.name, v.weight, v.ready) for v in policy.small.versions] == [
        ("v3", 90, True),
        ("v4", 10, True),
    ]
    assert policy.small.versions[1].upstream.base_url == "http://support-small-v4.llm.svc:8000/v1"
    assert len(cm["metadata"]["annotations"]["inferensys.io/policy-sha256"]) == 64


def test_version_without_ready_endpoints_is_marked_not_ready_in_the_policy() -> None:
    observed = Observed(endpoints={**ALL_READY.endpoints, small_target("v4"): EndpointHealth(0, 2)})
    policy = build_policy(ROUTE, parse_spec(example()), observed)
    assert [(v.name, v.ready) for v in policy.small.versions] == [("v3", True), ("v4", False)]


def test_referenced_service_and_external_url_become_upstreams() -> None:
    raw = example()
    raw["large"]["endpoint"] = {
        "url": "https://api.example.com/v1",
        "apiKeySecretRef": {"name": "openai", "key": "api-key"},
    }
    raw["small"]["versions"][0]["endpoint"] = {
        "service": "student-svc",
        "port": 9000,
        "path": "/openai/v1",
    }
    spec = parse_spec(raw)
    observed = Observed(endpoints={**ALL_READY.endpoints, LARGE: EXTERNAL})
    policy = build_policy(ROUTE, spec, observed)
    assert policy.large.upstream.base_url == "https://api.example.com/v1"
    assert policy.large.upstream.api_key is not None
    assert policy.large.upstream.api_key.file == "/etc/hybridroute/secrets/openai/api-key"
    assert policy.small.versions[0].upstream.base_url == "http://student-svc.llm.svc:9000/openai/v1"
    assert [s["metadata"]["name"] for s in build_model_services(ROUTE, spec)] == [
        "support-small-v4"
    ]


def test_api_key_secret_is_mounted_into_the_router_and_never_in_the_configmap() -> None:
    raw = example()
    raw["large"]["endpoint"] = {
        "url": "https://api.example.com/v1",
        "apiKeySecretRef": {"name": "openai", "key": "api-key"},
    }
    spec = parse_spec(raw)
    pod = build_deployment(ROUTE, spec)["spec"]["template"]["spec"]
    secret_volume = next(v for v in pod["volumes"] if "secret" in v)
    assert secret_volume["secret"] == {
        "secretName": "openai",
        "items": [{"key": "api-key", "path": "api-key"}],
        "defaultMode": 0o440,
    }
    mounts = pod["containers"][0]["volumeMounts"]
    assert {
        "name": secret_volume["name"],
        "mountPath": "/etc/hybridroute/secrets/openai",
        "readOnly": True,
    } in mounts
    cm = build_policy_configmap(ROUTE, build_policy(ROUTE, spec, ALL_READY))
    assert "secretKeyRef" not in cm["data"]["policy.yaml"]
    assert "/etc/hybridroute/secrets/openai/api-key" in cm["data"]["policy.yaml"]


def test_router_deployment_is_hardened_and_probed() -> None:
    deployment = build_deployment(ROUTE, parse_spec(example()))
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert deployment["spec"]["replicas"] == 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert "podAntiAffinity" in pod["affinity"]
    assert pod["serviceAccountName"] == "support-router"
    args = container["args"]
    assert args[args.index("--policy-configmap") + 1] == "llm/support-policy"
    assert args[args.index("--policy") + 1] == "/etc/hybridroute/policy/policy.yaml"


def test_router_role_reads_only_its_own_configmap() -> None:
    assert build_role(ROUTE)["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["support-policy"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    binding = build_role_binding(ROUTE)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "support-router", "namespace": "llm"}
    ]


def test_router_service_and_pdb_select_the_router_pods() -> None:
    deployment = build_deployment(ROUTE, parse_spec(example()))
    match = deployment["spec"]["selector"]["matchLabels"]
    assert build_router_service(ROUTE, parse_spec(example()))["spec"]["selector"] == match
    assert build_pdb(ROUTE)["spec"]["selector"]["matchLabels"] == match
    assert set(match.items()) <= set(deployment["spec"]["template"]["metadata"]["labels"].items())


def test_model_services_select_the_users_pods() -> None:
    services = {
        s["metadata"]["name"]: s for s in build_model_services(ROUTE, parse_spec(example()))
    }
    assert services["support-large"]["spec"]["selector"] == {"app": "llama-70b"}
    assert services["support-small-v4"]["spec"]["selector"] == {"app": "student", "version": "v4"}
    assert services["support-small-v4"]["spec"]["ports"][0]["targetPort"] == 8000


@pytest.mark.parametrize(
    ("autoscaling", "hpa", "replicas"),
    [(None, False, 2), ({"minReplicas": 2, "maxReplicas": 6}, True, None)],
)
def test_hpa_only_when_asked_and_then_it_owns_replicas(
    autoscaling: dict[str, int] | None, hpa: bool, replicas: int | None
) -> None:
    raw = example()
    if autoscaling:
        raw["router"]["autoscaling"] = autoscaling
    spec = parse_spec(raw)
    built = build_hpa(ROUTE, spec)
    assert (built is not None) is hpa
    if built is not None:
        assert built["spec"]["maxReplicas"] == 6
    assert build_deployment(ROUTE, spec)["spec"].get("replicas") == replicas


@pytest.mark.parametrize(
    ("api", "wanted", "expected"), [(True, True, True), (False, True, False), (True, False, False)]
)
def test_service_monitor_only_when_the_api_exists_and_wanted(
    api: bool, wanted: bool, expected: bool
) -> None:
    raw = example()
    raw["monitoring"] = {"serviceMonitor": wanted}
    observed = Observed(endpoints=ALL_READY.endpoints, service_monitor_api=api)
    kinds = {c["kind"] for c in render(ROUTE, parse_spec(raw), observed)}
    assert ("ServiceMonitor" in kinds) is expected
    monitor = build_service_monitor(ROUTE, parse_spec(raw))
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_render_is_deterministic() -> None:
    spec = parse_spec(example())
    assert render(ROUTE, spec, ALL_READY) == render(ROUTE, spec, ALL_READY)


def test_feedback_token_and_hash_key_secrets_are_mounted_and_passed_as_files() -> None:
    raw = example()
    raw["router"]["feedbackTokenSecretRef"] = {"name": "router-keys", "key": "feedback"}
    raw["router"]["hashKeySecretRef"] = {"name": "router-keys", "key": "hash"}
    spec = parse_spec(raw)
    pod = build_deployment(ROUTE, spec)["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--feedback-token-file") + 1] == (
        "/etc/hybridroute/secrets/router-keys/feedback"
    )
    assert args[args.index("--hash-key-file") + 1] == "/etc/hybridroute/secrets/router-keys/hash"
    volume = next(
        v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "router-keys"
    )
    assert [i["key"] for i in volume["secret"]["items"]] == ["feedback", "hash"]
    cm = build_policy_configmap(ROUTE, build_policy(ROUTE, spec, ALL_READY))
    assert "router-keys" not in cm["data"]["policy.yaml"]


def test_router_runs_without_token_or_hash_key_by_default() -> None:
    args = build_deployment(ROUTE, parse_spec(example()))["spec"]["template"]["spec"]
    flags = args["containers"][0]["args"]
    assert "--feedback-token-file" not in flags
    assert "--hash-key-file" not in flags


def test_rendered_router_arguments_are_accepted_by_the_router_cli() -> None:
    raw = example()
    raw["router"]["feedbackTokenSecretRef"] = {"name": "router-keys", "key": "feedback"}
    raw["router"]["hashKeySecretRef"] = {"name": "router-keys", "key": "hash"}
    pod = build_deployment(ROUTE, parse_spec(raw))["spec"]["template"]["spec"]
    parsed = router_parser().parse_args(pod["containers"][0]["args"])
    assert str(parsed.hash_key_file).endswith("router-keys/hash")


def test_admin_port_moves_probes_metrics_and_the_service_monitor_off_the_api_port() -> None:
    raw = example()
    raw["router"]["adminPort"] = 9090
    spec = parse_spec(raw)
    container = build_deployment(ROUTE, spec)["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][container["args"].index("--admin-port") + 1] == "9090"
    assert {"name": "admin", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    assert container["readinessProbe"]["httpGet"]["port"] == "admin"
    assert container["livenessProbe"]["httpGet"]["port"] == "admin"
    service_ports = build_router_service(ROUTE, spec)["spec"]["ports"]
    assert {p["name"]: p["port"] for p in service_ports} == {"http": 8080, "admin": 9090}
    assert build_service_monitor(ROUTE, spec)["spec"]["endpoints"][0]["port"] == "admin"
    parsed = router_parser().parse_args(container["args"])
    assert parsed.admin_port == 9090


def test_admin_port_equal_to_the_api_port_is_rejected() -> None:
    raw = example()
    raw["router"]["adminPort"] = 8080
    with pytest.raises(SpecError, match="adminPort must differ from the router's API port 8080"):
        parse_spec(raw)
