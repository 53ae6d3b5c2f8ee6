"""Scorer artifact ConfigMaps against the real API server: a missing one is a blocking
condition (no policy is written), the manifest ``hybridroute train --configmap`` writes
clears it and puts the artifact's hash in the policy and status, and a changed artifact
changes the policy the routers follow, at once (the operator watches ConfigMaps)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hybridroute_localstack import ControlPlane, eventually
from hybridroute_policy import parse_policy
from hybridroute_quality.cli import configmap_manifest
from operator_harness import (
    OperatorProcess,
    apply,
    apply_route,
    condition,
    crd_namespace,
    get_json,
    route_manifest,
    running_operator,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def setup(
    cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, OperatorProcess]]:
    workdir = tmp_path_factory.mktemp("op-artifacts")
    # no periodic resync within the test: artifact ConfigMap changes must arrive by watch
    no_resync = ("--resync-seconds", "600")
    with (
        crd_namespace(cluster, "art") as namespace,
        running_operator(cluster, namespace, workdir, *no_resync) as proc,
    ):
        yield namespace, proc


def default_artifact(folder: Path) -> tuple[Path, Path]:
    """The shipped scorer's two files, as ``hybridroute train --out`` writes them."""
    shipped = resources.files("hybridroute_router.scorers")
    paths = (folder / "scorer.json", folder / "scorer.npz")
    for path in paths:
        path.write_bytes((shipped / f"default-scorer{path.suffix}").read_bytes())
    return paths


def test_missing_artifact_configmap_is_a_condition_until_it_is_created(
    cluster: ControlPlane, setup: tuple[str, OperatorProcess], tmp_path: Path
) -> None:
    namespace, _ = setup
    name = f"r{uuid.uuid4().hex[:6]}"
    scorer_cm = f"{name}-scorer"
    route = route_manifest(name, app=name)
    route["spec"]["policy"]["complexity"].update(
        {"scorer": "learned", "scorerArtifactConfigMap": scorer_cm}
    )
    apply_route(cluster, namespace, name, route)

    def reconciled() -> dict[str, Any] | None:
        obj = get_json(cluster, "hybridroute", name, "-n", namespace)
        return condition(obj, "Reconciled")

    blocked = eventually(
        lambda: (c := reconciled()) and c["reason"] == "ArtifactConfigMapNotFound" and c,
        "Reconciled=False ArtifactConfigMapNotFound",
        timeout=30,
    )
    assert blocked["status"] == "False"
    assert f"ConfigMap '{scorer_cm}' does not exist" in blocked["message"]
    assert get_json(cluster, "configmap", f"{name}-policy", "-n", namespace) is None
    deployment = get_json(cluster, "deployment", f"{name}-router", "-n", namespace)
    assert deployment is not None  # the rest is applied; the volume is optional
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["artifact-scorer"]["configMap"]["name"] == scorer_cm

    meta, weights = default_artifact(tmp_path)
    manifest = configmap_manifest(scorer_cm, namespace, meta, weights)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    expected = hashlib.sha256(meta.read_bytes() + weights.read_bytes()).hexdigest()

    def policy() -> Any:
        cm = get_json(cluster, "configmap", f"{name}-policy", "-n", namespace)
        return parse_policy(cm["data"]["policy.yaml"]) if cm else None

    applied = eventually(policy, "policy ConfigMap written once the artifact exists", timeout=30)
    assert applied.complexity.scorer_artifact == "/etc/hybridroute/artifacts/scorer/scorer"
    assert applied.complexity.scorer_artifact_sha256 == expected
    status = eventually(
        lambda: (
            (c := reconciled())
            and c["status"] == "True"
            and get_json(cluster, "hybridroute", name, "-n", namespace)["status"]
        ),
        "Reconciled=True",
        timeout=30,
    )
    assert status["policy"]["scorerArtifactSha256"] == expected

    changed = json.loads(meta.read_text())
    changed["name"] = "retrained"
    meta.write_text(json.dumps(changed))
    manifest = configmap_manifest(scorer_cm, namespace, meta, weights)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    new = hashlib.sha256(meta.read_bytes() + weights.read_bytes()).hexdigest()
    eventually(
        lambda: (p := policy()) and p.complexity.scorer_artifact_sha256 == new,
        "the changed artifact's hash reaches the policy ConfigMap",
        timeout=30,
    )


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            {"complexity": {"scorer": "heuristic", "scorerArtifactConfigMap": "cm"}},
            "complexity.scorerArtifactConfigMap needs scorer auto, learned or similarity",
        ),
        (
            {"similarity": {"examplesConfigMap": "cm", "examplesFile": "/x.jsonl"}},
            "similarity: give examplesFile or examplesConfigMap, not both",
        ),
    ],
)
def test_the_api_server_rejects_contradictory_artifact_sources(
    cluster: ControlPlane, setup: tuple[str, OperatorProcess], policy: dict[str, Any], message: str
) -> None:
    namespace, _ = setup
    route = route_manifest(f"r{uuid.uuid4().hex[:6]}", app="x")
    route["spec"]["policy"] = policy
    result = apply(cluster, namespace, route, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_renaming_to_a_missing_configmap_holds_the_router_pods_and_policy(
    cluster: ControlPlane, setup: tuple[str, OperatorProcess], tmp_path: Path
) -> None:
    """Switching to an artifact ConfigMap that does not exist yet must not roll the pods
    onto an empty mount: the Deployment and the policy stay until it exists."""
    namespace, _ = setup
    name = f"r{uuid.uuid4().hex[:6]}"
    meta, weights = default_artifact(tmp_path)
    first, second = f"{name}-a", f"{name}-b"
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps(configmap_manifest(first, namespace, meta, weights))
    )
    route = route_manifest(name, app=name)
    route["spec"]["policy"]["complexity"].update(
        {"scorer": "learned", "scorerArtifactConfigMap": first}
    )
    apply_route(cluster, namespace, name, route)

    def mounted() -> str | None:
        deployment = get_json(cluster, "deployment", f"{name}-router", "-n", namespace)
        volumes = (deployment or {}).get("spec", {}).get("template", {}).get("spec", {})
        by_name = {v["name"]: v for v in volumes.get("volumes") or []}
        return by_name.get("artifact-scorer", {}).get("configMap", {}).get("name")

    def policy_text() -> str | None:
        cm = get_json(cluster, "configmap", f"{name}-policy", "-n", namespace)
        return cm["data"]["policy.yaml"] if cm else None

    def settled() -> bool:  # applied, and every model version seen ready
        text = policy_text()
        return mounted() == first and text is not None and "ready: false" not in text

    eventually(settled, "route applied with every version ready", timeout=30)
    good_policy = policy_text()
    route["spec"]["policy"]["complexity"]["scorerArtifactConfigMap"] = second
    route["spec"]["policy"]["complexity"]["threshold"] = 0.7
    apply(cluster, namespace, route)

    def reason() -> str | None:
        found = condition(get_json(cluster, "hybridroute", name, "-n", namespace), "Reconciled")
        return found["reason"] if found else None

    eventually(lambda: reason() == "ArtifactConfigMapNotFound", "blocked", timeout=30)
    assert mounted() == first  # the pods were not rolled onto the missing ConfigMap
    assert policy_text() == good_policy

    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps(configmap_manifest(second, namespace, meta, weights))
    )
    eventually(lambda: mounted() == second, "Deployment follows once it exists", timeout=30)
    eventually(lambda: reason() == "Applied", "Reconciled again", timeout=30)
    assert parse_policy(policy_text() or "").complexity.threshold == 0.7


def test_routes_stored_under_the_old_default_scorer_keep_it_after_the_crd_upgrade(
    cluster: ControlPlane,
) -> None:
    """The upgrade path of the default scorer (docs/router.md, "Upgrading: the default
    scorer"): the API server writes the CRD's schema defaults into every route it stores,
    so routes created while the default was ``heuristic`` keep it when the upgraded CRD
    says ``auto``; routes created after get ``auto``."""
    from operator_harness import CRD, install_crd, wait_established

    current = CRD.read_text(encoding="utf-8")
    old = current.replace("default: auto", "default: heuristic").replace(
        "scorer: auto", "scorer: heuristic"
    )
    assert old.count("heuristic") == current.count("heuristic") + 3  # the three defaults

    def stored_scorer(namespace: str, name: str) -> Any:
        route = get_json(cluster, "hybridroute", name, "-n", namespace)
        return (route or {})["spec"]["policy"]["complexity"].get("scorer")

    with crd_namespace(cluster, "upg") as namespace:
        try:
            cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=old)
            wait_established(cluster, "hybridroutes.inferensys.io")
            without_scorer = route_manifest("before", app="before")
            del without_scorer["spec"]["policy"]["complexity"]["scorer"]
            without_policy = route_manifest("before-bare", app="before")
            del without_policy["spec"]["policy"]
            apply(cluster, namespace, without_scorer, without_policy)
            assert stored_scorer(namespace, "before") == "heuristic"
            assert stored_scorer(namespace, "before-bare") == "heuristic"
        finally:
            install_crd(cluster)  # the upgrade (and the CRD every other test expects)
        assert stored_scorer(namespace, "before") == "heuristic"
        assert stored_scorer(namespace, "before-bare") == "heuristic"
        after = route_manifest("after", app="after")
        del after["spec"]["policy"]
        apply(cluster, namespace, after)
        assert stored_scorer(namespace, "after") == "auto"
