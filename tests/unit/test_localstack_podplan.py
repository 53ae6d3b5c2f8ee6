"""The dev-only pod runner's plan of a pod (pure): the process the pod would run."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import pytest
from hybridroute_localstack.podplan import (
    IMAGE_ENTRYPOINTS,
    REPLAY_ANNOTATION,
    SERVICE_ACCOUNT_DIR,
    Cluster,
    NotRunnable,
    hosts_file,
    image_name,
    launch_script,
    plan_pod,
    service_names,
)

pytestmark = pytest.mark.unit

CHECKOUT = Path(__file__).resolve().parents[2]
ADDRESS = "127.99.1.7"


def cluster() -> Cluster:
    return Cluster(
        api_host="127.0.0.1",
        api_port=6443,
        ca_pem=b"CA",
        config_maps={"llm/support-policy": {"policy.yaml": "threshold: 0.5\n"}},
        secrets={"llm/keys": {"token": base64.b64encode(b"s3cret").decode()}},
        bin_dir="/venv/bin",
    )


def router_pod(**container: Any) -> dict[str, Any]:
    base = {
        "name": "router",
        "image": "ghcr.io/inferensys/hybridroute-router:0.1.0",
        "args": ["--policy", "/etc/hybridroute/policy/policy.yaml", "--host", "0.0.0.0"],
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "token"}}},
        ],
        "volumeMounts": [
            {"name": "policy", "mountPath": "/etc/hybridroute/policy", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        **container,
    }
    return {
        "metadata": {"name": "support-router-1", "namespace": "llm", "uid": "u1"},
        "spec": {
            "serviceAccountName": "support-router",
            "containers": [base],
            "volumes": [
                {"name": "policy", "configMap": {"name": "support-policy"}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }


def test_a_router_pod_runs_the_image_entrypoint_with_its_own_args() -> None:
    plan = plan_pod(router_pod(), ADDRESS, cluster(), token="tok")
    assert plan.kind == "hybridroute-router"
    assert plan.argv == (
        "/venv/bin/hybridroute-router",
        "--policy",
        "/etc/hybridroute/policy/policy.yaml",
        "--host",
        ADDRESS,
    )
    assert plan.env["POD"] == "support-router-1"
    assert plan.env["TOKEN"] == "s3cret"
    assert plan.env["KUBERNETES_SERVICE_PORT"] == "6443"
    assert plan.ports == {"http": 8080}


def test_volumes_are_materialised_and_mounted_at_the_container_paths() -> None:
    plan = plan_pod(router_pod(), ADDRESS, cluster(), token="tok")
    files = {v.name: v.files for v in plan.volumes}
    assert files["policy"] == {"policy.yaml": b"threshold: 0.5\n"}
    assert files["kube-api-access"]["token"] == b"tok"
    assert files["kube-api-access"]["ca.crt"] == b"CA"
    assert {m.path for m in plan.mounts} == {"/etc/hybridroute/policy", "/tmp", SERVICE_ACCOUNT_DIR}
    dirs = {v.name: f"/w/{v.name}" for v in plan.volumes}
    script = launch_script(plan, dirs, "/w/hosts")
    assert "mount --bind /w/hosts /etc/hosts" in script
    assert "mount --bind /w/policy /etc/hybridroute/policy && mount -o remount,bind,ro" in script
    lines = script.splitlines()
    assert lines.index("mount --bind /w/tmp /tmp") > max(
        i for i, line in enumerate(lines) if line.startswith("mount") and "/tmp" not in line
    )
    assert lines[-1].startswith("exec env -i ")


def test_an_explicit_command_wins_over_the_image_entrypoint() -> None:
    plan = plan_pod(router_pod(command=["python", "-m", "x"]), ADDRESS, cluster(), None)
    assert plan.argv[:3] == ("python", "-m", "x")
    assert all(m.path != SERVICE_ACCOUNT_DIR for m in plan.mounts)


def test_an_annotated_model_pod_runs_a_replay_server_on_its_container_port() -> None:
    pod = {
        "metadata": {
            "name": "llama-1",
            "namespace": "llm",
            "uid": "u2",
            "annotations": {REPLAY_ANNOTATION: "--role large --capacity 4"},
        },
        "spec": {
            "containers": [
                {
                    "name": "server",
                    "image": "vllm/vllm-openai:latest",
                    "ports": [{"containerPort": 8000}],
                }
            ]
        },
    }
    plan = plan_pod(pod, ADDRESS, cluster(), None)
    assert plan.kind == "replay"
    assert plan.argv[0] == sys.executable
    assert plan.argv[-6:] == ("large", "--capacity", "4", "--host", ADDRESS, "--port", "8000")[-6:]


def test_an_unknown_image_is_not_runnable() -> None:
    pod = router_pod(image="nginx:1.27")
    with pytest.raises(NotRunnable, match="nginx"):
        plan_pod(pod, ADDRESS, cluster(), None)


def test_a_pod_resolves_services_by_their_cluster_dns_names() -> None:
    names = dict.fromkeys(service_names("llm", "support-large", "llm"), "127.99.200.1")
    text = hosts_file("support-router-1", ADDRESS, names)
    assert (
        "127.99.200.1\tsupport-large support-large.llm.svc support-large.llm.svc.cluster.local"
        in text
    )
    assert f"{ADDRESS}\tsupport-router-1" in text
    assert service_names("other", "x", "llm") == ["x.other.svc", "x.other.svc.cluster.local"]


def test_image_entrypoints_match_the_dockerfiles() -> None:
    for dockerfile in ("router-sidecar/Dockerfile", "operator/Dockerfile"):
        text = (CHECKOUT / dockerfile).read_text()
        entry = next(line for line in text.splitlines() if line.startswith("ENTRYPOINT"))
        script = entry.split('"')[1]
        assert IMAGE_ENTRYPOINTS[script] == (script,)
    assert image_name("ghcr.io/a/hybridroute-router:0.1.0@sha256:ab") == "hybridroute-router"


def test_mount_points_the_runner_made_are_removed_and_nothing_else(tmp_path: Path) -> None:
    from hybridroute_localstack.podrunner import MOUNT_POINT_MARK, _remove_mount_point

    kept = tmp_path / "etc"
    kept.mkdir()
    made = kept / "hybridroute" / "policy"
    for directory in (made.parent, made):
        directory.mkdir()
        (directory / MOUNT_POINT_MARK).touch()
    _remove_mount_point(made)
    assert kept.is_dir()
    assert not (kept / "hybridroute").exists()

    for directory in (made.parent, made):
        directory.mkdir()
        (directory / MOUNT_POINT_MARK).touch()
    (made.parent / "other").write_text("not ours")
    _remove_mount_point(made)
    assert not made.exists()
    assert (made.parent / "other").exists()


def test_env_values_and_args_expand_earlier_variables_as_kubernetes_does() -> None:
    pod = router_pod(
        args=["--service-name", "router-$(POD)", "--literal", "$$(POD)", "--unknown", "$(NOPE)"],
        env=[
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "ATTRS", "value": "k8s.pod.name=$(POD),later=$(LATER)"},
            {"name": "LATER", "value": "x"},
        ],
    )
    plan = plan_pod(pod, ADDRESS, cluster(), token=None)
    assert plan.env["ATTRS"] == "k8s.pod.name=support-router-1,later=$(LATER)"
    assert plan.argv[1:] == (
        "--service-name",
        "router-support-router-1",
        "--literal",
        "$(POD)",
        "--unknown",
        "$(NOPE)",
    )


def test_binary_configmap_keys_are_mounted_as_their_bytes() -> None:
    plane = cluster()
    plane.config_maps["llm/scorer"] = {"scorer.json": "{}", "scorer.npz": b"PK\x03\x04\xff"}
    pod = router_pod()
    pod["spec"]["volumes"].append({"name": "artifact", "configMap": {"name": "scorer"}})
    pod["spec"]["containers"][0]["volumeMounts"].append(
        {"name": "artifact", "mountPath": "/etc/hybridroute/artifacts/scorer", "readOnly": True}
    )
    plan = plan_pod(pod, ADDRESS, plane, token=None)
    files = {v.name: v.files for v in plan.volumes}
    assert files["artifact"] == {"scorer.json": b"{}", "scorer.npz": b"PK\x03\x04\xff"}
