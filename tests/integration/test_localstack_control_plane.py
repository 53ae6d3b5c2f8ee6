"""The local control plane is a real Kubernetes API server: kubectl, CRDs, server-side
apply, RBAC and admission behave as in a cluster."""

from __future__ import annotations

import json
import uuid

import pytest
from hybridroute_localstack import ControlPlane, KubectlError, eventually
from hybridroute_localstack.versions import HELM_VERSION, KUBERNETES_VERSION

pytestmark = pytest.mark.integration

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.harness.hybridroute.test
spec:
  group: harness.hybridroute.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1, maximum: 10}
"""


def widget(name: str, size: int) -> str:
    return json.dumps(
        {
            "apiVersion": "harness.hybridroute.test/v1",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"size": size},
        }
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_version_endpoint_reports_the_pinned_kubernetes_version(
    control_plane: ControlPlane,
) -> None:
    version = json.loads(control_plane.kubectl("get", "--raw", "/version").stdout)
    assert version["gitVersion"] == KUBERNETES_VERSION
    assert control_plane.server.startswith("https://127.0.0.1:")


def test_crd_and_custom_object_are_applied_and_validated_with_kubectl(
    control_plane: ControlPlane,
) -> None:
    control_plane.kubectl("apply", "-f", "-", input=WIDGET_CRD)
    control_plane.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/widgets.harness.hybridroute.test",
    )
    name = unique("small")
    control_plane.kubectl("apply", "-f", "-", input=widget(name, 3))
    stored = json.loads(control_plane.kubectl("get", "widget", name, "-o", "json").stdout)
    assert stored["spec"] == {"size": 3}

    rejected = control_plane.kubectl(
        "apply", "-f", "-", input=widget(unique("huge"), 99), check=False
    )
    assert rejected.returncode != 0
    assert "spec.size" in rejected.stderr
    assert "less than or equal to 10" in rejected.stderr


def test_server_side_apply_conflict_is_reported_as_a_conflict(
    control_plane: ControlPlane,
) -> None:
    name = unique("ssa")

    def config_map(value: str) -> str:
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default"},
                "data": {"threshold": value},
            }
        )

    control_plane.kubectl(
        "apply", "--server-side", "--field-manager=gitops", "-f", "-", input=config_map("0.5")
    )
    with pytest.raises(KubectlError) as conflict:
        control_plane.kubectl(
            "apply",
            "--server-side",
            "--field-manager=operator",
            "-f",
            "-",
            input=config_map("0.7"),
        )
    assert "conflict" in str(conflict.value).lower()
    assert "gitops" in str(conflict.value)
    value = control_plane.kubectl(
        "get", "configmap", name, "-o", "jsonpath={.data.threshold}"
    ).stdout
    assert value == "0.5"

    control_plane.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=operator",
        "-f",
        "-",
        input=config_map("0.7"),
    )
    taken = json.loads(
        control_plane.kubectl(
            "get", "configmap", name, "-o", "json", "--show-managed-fields"
        ).stdout
    )
    assert taken["data"]["threshold"] == "0.7"
    owners = {m["manager"] for m in taken["metadata"]["managedFields"]}
    assert "operator" in owners


def test_rbac_forbids_a_user_without_bindings(control_plane: ControlPlane) -> None:
    denied = control_plane.kubectl("get", "secrets", "--as=nobody@example.test", check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    allowed = control_plane.kubectl("auth", "can-i", "create", "deployments")
    assert allowed.stdout.strip() == "yes"


def test_admission_policies_reject_objects_they_forbid(control_plane: ControlPlane) -> None:
    label = unique("deny")
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": label},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["configmaps"],
                    }
                ]
            },
            "validations": [
                {
                    "expression": f"!has(object.metadata.labels) || "
                    f"!('{label}' in object.metadata.labels)",
                    "message": "labelled configmaps are forbidden here",
                }
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": label},
        "spec": {"policyName": label, "validationActions": ["Deny"]},
    }
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(policy))
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(binding))

    def create_is_denied() -> bool:
        name = unique("cm")
        result = control_plane.kubectl(
            "apply",
            "--dry-run=server",
            "-f",
            "-",
            check=False,
            input=json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "default", "labels": {label: "x"}},
                }
            ),
        )
        return result.returncode != 0 and "labelled configmaps are forbidden" in result.stderr

    try:
        eventually(create_is_denied, "denied by the admission policy", timeout=30)
    finally:
        control_plane.kubectl("delete", "validatingadmissionpolicybinding", label, check=False)
        control_plane.kubectl("delete", "validatingadmissionpolicy", label, check=False)


def test_pinned_helm_talks_to_the_local_api_server(control_plane: ControlPlane) -> None:
    version = control_plane.helm("version", "--short").stdout
    assert version.startswith(HELM_VERSION)
    releases = json.loads(control_plane.helm("list", "--all-namespaces", "-o", "json").stdout)
    assert releases == []
