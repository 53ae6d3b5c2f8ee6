"""With controllers, scheduler and kwok the local cluster runs workloads: Deployments
get Ready pods on the fake node and owned objects are garbage-collected."""

from __future__ import annotations

import json
import uuid

import pytest
from hybridroute_localstack import ControlPlane, eventually
from hybridroute_localstack.node import FAKE_NODE_NAME

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_deployment_becomes_ready_with_pods_on_the_kwok_node(cluster: ControlPlane) -> None:
    name = unique("web")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "registry.test/web:1"}]},
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(deployment))
    cluster.kubectl("rollout", "status", f"deployment/{name}", "--timeout=120s")

    ready = cluster.kubectl(
        "get", "deployment", name, "-o", "jsonpath={.status.readyReplicas}"
    ).stdout
    assert ready == "2"
    pods = json.loads(cluster.kubectl("get", "pods", "-l", f"app={name}", "-o", "json").stdout)
    assert {pod["spec"]["nodeName"] for pod in pods["items"]} == {FAKE_NODE_NAME}
    assert all(pod["status"]["phase"] == "Running" for pod in pods["items"])


def test_owned_config_map_is_garbage_collected_after_its_owner_is_deleted(
    cluster: ControlPlane,
) -> None:
    owner_name, child_name = unique("owner"), unique("child")
    cluster.kubectl("create", "configmap", owner_name)
    uid = cluster.kubectl("get", "configmap", owner_name, "-o", "jsonpath={.metadata.uid}").stdout
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": child_name,
            "namespace": "default",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": owner_name, "uid": uid}
            ],
        },
        "data": {"k": "v"},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(child))
    cluster.kubectl("delete", "configmap", owner_name, "--wait=true")

    def child_gone() -> bool:
        found = cluster.kubectl("get", "configmap", child_name, check=False)
        return found.returncode != 0 and "NotFound" in found.stderr

    eventually(child_gone, "garbage-collected", timeout=90)


def test_unowned_config_map_survives_deleting_an_unrelated_object(cluster: ControlPlane) -> None:
    keeper, other = unique("keeper"), unique("other")
    cluster.kubectl("create", "configmap", keeper)
    cluster.kubectl("create", "configmap", other)
    cluster.kubectl("delete", "configmap", other, "--wait=true")
    assert cluster.kubectl("get", "configmap", keeper, check=False).returncode == 0
