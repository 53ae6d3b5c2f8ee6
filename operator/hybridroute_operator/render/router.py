"""The router's workload: ServiceAccount, Role, RoleBinding, Deployment, Service,
PodDisruptionBudget, HorizontalPodAutoscaler and ServiceMonitor (pure builders)."""

from __future__ import annotations

import hashlib
from typing import Any

from hybridroute_operator.api.constants import ROUTER_PORT
from hybridroute_operator.api.spec import (
    HybridRouteSpec,
    ModelEndpoint,
    ResourceList,
    SecretKeyRef,
)
from hybridroute_operator.render.artifacts import artifact_volumes
from hybridroute_operator.render.common import (
    POLICY_DIR,
    POLICY_KEY,
    SECRETS_DIR,
    Manifest,
    RouteRef,
    metadata,
    policy_configmap_name,
    router_name,
    selector_labels,
)

COMPONENT = "router"
RUN_AS = 65532


def build_service_account(route: RouteRef) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(route, router_name(route), COMPONENT),
    }


def build_role(route: RouteRef) -> Manifest:
    """The router may read and watch its own policy ConfigMap, nothing else."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata(route, router_name(route), COMPONENT),
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [policy_configmap_name(route)],
                "verbs": ["get", "list", "watch"],
            }
        ],
    }


def build_role_binding(route: RouteRef) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(route, router_name(route), COMPONENT),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": router_name(route),
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": router_name(route), "namespace": route.namespace}
        ],
    }


def _quantities(resources: ResourceList) -> dict[str, str]:
    values = {"cpu": resources.cpu, "memory": resources.memory}
    return {k: str(v) for k, v in values.items() if v is not None}


def _endpoints(spec: HybridRouteSpec) -> list[ModelEndpoint]:
    return [spec.large.endpoint, *(v.endpoint for v in spec.small.versions)]


def secret_volume_name(secret: str) -> str:
    """``secret-<name>`` when that is a DNS label naming the Secret exactly; otherwise
    (a dot, or over 63 characters) cut to fit, with a hash of the whole name, so two
    Secrets never share a volume name."""
    readable = "secret-" + secret
    if len(readable) <= 63 and "." not in secret:
        return readable
    digest = hashlib.sha256(secret.encode()).hexdigest()[:10]
    return readable.replace(".", "-")[: 63 - 11].rstrip("-") + "-" + digest


def _secret_refs(spec: HybridRouteSpec) -> list[SecretKeyRef]:
    refs = [e.api_key_secret_ref for e in _endpoints(spec)]
    refs += [spec.router.feedback_token_secret_ref, spec.router.hash_key_secret_ref]
    return [ref for ref in refs if ref is not None]


def secret_file(ref: SecretKeyRef) -> str:
    """Where the router reads a referenced Secret key (mounted by the kubelet)."""
    return f"{SECRETS_DIR}/{ref.name}/{ref.key}"


def _secret_volumes(spec: HybridRouteSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One volume per referenced Secret holding only the referenced keys."""
    keys: dict[str, list[str]] = {}
    for ref in _secret_refs(spec):
        if ref.key not in keys.setdefault(ref.name, []):
            keys[ref.name].append(ref.key)
    volumes = [
        {
            "name": secret_volume_name(name),
            "secret": {
                "secretName": name,
                "items": [{"key": k, "path": k} for k in sorted(ks)],
                "defaultMode": 0o440,
            },
        }
        for name, ks in sorted(keys.items())
    ]
    mounts = [
        {"name": secret_volume_name(name), "mountPath": f"{SECRETS_DIR}/{name}", "readOnly": True}
        for name in sorted(keys)
    ]
    return volumes, mounts


def router_args(route: RouteRef, spec: HybridRouteSpec) -> list[str]:
    args = [
        "--policy",
        f"{POLICY_DIR}/{POLICY_KEY}",
        "--policy-configmap",
        f"{route.namespace}/{policy_configmap_name(route)}",
        "--host",
        "0.0.0.0",  # noqa: S104 - the container's own interface
        "--port",
        str(ROUTER_PORT),
        "--log-level",
        spec.router.log_level,
    ]
    if spec.router.feedback_token_secret_ref is not None:
        args += ["--feedback-token-file", secret_file(spec.router.feedback_token_secret_ref)]
    if spec.router.hash_key_secret_ref is not None:
        args += ["--hash-key-file", secret_file(spec.router.hash_key_secret_ref)]
    if spec.router.admin_port is not None:
        args += ["--admin-port", str(spec.router.admin_port)]
    return args


def tracing_env(route: RouteRef, spec: HybridRouteSpec) -> list[dict[str, Any]]:
    """``spec.router.tracing`` as the standard OpenTelemetry variables the router reads:
    OTLP/HTTP protobuf to the endpoint, parent-based ratio sampling, the service name and
    the Pod's Kubernetes identity as resource attributes."""
    tracing = spec.router.tracing
    if tracing is None:
        return []
    attributes = (
        f"k8s.namespace.name={route.namespace},k8s.pod.name=$(POD_NAME),"
        f"hybridroute.route={route.name}"
    )
    plain = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": tracing.otlp_endpoint,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": str(tracing.sampling_ratio),
        "OTEL_SERVICE_NAME": tracing.service_name,
        "OTEL_RESOURCE_ATTRIBUTES": attributes,
    }
    pod_name = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    return [pod_name, *({"name": k, "value": v} for k, v in plain.items())]


def _ports(spec: HybridRouteSpec) -> list[dict[str, Any]]:
    ports = [{"name": "http", "containerPort": ROUTER_PORT, "protocol": "TCP"}]
    if spec.router.admin_port is not None:
        ports.append({"name": "admin", "containerPort": spec.router.admin_port, "protocol": "TCP"})
    return ports


def _ops_port(spec: HybridRouteSpec) -> str:
    """The named port serving /metrics, /healthz and /readyz."""
    return "http" if spec.router.admin_port is None else "admin"


def _container(
    route: RouteRef, spec: HybridRouteSpec, mounts: list[dict[str, Any]]
) -> dict[str, Any]:
    res = spec.router.resources
    ops = _ops_port(spec)
    probe = {"httpGet": {"path": "/readyz", "port": ops, "scheme": "HTTP"}, "periodSeconds": 5}
    env = tracing_env(route, spec)
    return {
        "name": "router",
        "image": spec.router.image,
        "imagePullPolicy": spec.router.image_pull_policy,
        "args": router_args(route, spec),
        **({"env": env} if env else {}),
        "ports": _ports(spec),
        "readinessProbe": {**probe, "failureThreshold": 2},
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": ops, "scheme": "HTTP"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": {"requests": _quantities(res.requests), "limits": _quantities(res.limits)},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "policy", "mountPath": POLICY_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's /tmp
            *mounts,
        ],
    }


def build_deployment(route: RouteRef, spec: HybridRouteSpec) -> Manifest:
    secret_volumes, secret_mounts = _secret_volumes(spec)
    artifact_vols, artifact_mounts = artifact_volumes(spec)
    match = selector_labels(route, COMPONENT)
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": match},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "template": {
            "metadata": {"labels": metadata(route, "", COMPONENT)["labels"]},
            "spec": {
                "serviceAccountName": router_name(route),
                "automountServiceAccountToken": True,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": RUN_AS,
                    "runAsGroup": RUN_AS,
                    "fsGroup": RUN_AS,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "affinity": {
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 100,
                                "podAffinityTerm": {
                                    "labelSelector": {"matchLabels": match},
                                    "topologyKey": "kubernetes.io/hostname",
                                },
                            }
                        ]
                    }
                },
                "containers": [_container(route, spec, secret_mounts + artifact_mounts)],
                "volumes": [
                    {"name": "policy", "configMap": {"name": policy_configmap_name(route)}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    *secret_volumes,
                    *artifact_vols,
                ],
            },
        },
    }
    if spec.router.autoscaling is None:  # else the HPA owns the replica count
        deployment_spec["replicas"] = spec.router.replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(route, router_name(route), COMPONENT),
        "spec": deployment_spec,
    }


def build_router_service(route: RouteRef, spec: HybridRouteSpec) -> Manifest:
    """The API port; the admin port too when there is one (for the ServiceMonitor)."""
    ports = [
        {"name": p["name"], "port": p["containerPort"], "targetPort": p["name"], "protocol": "TCP"}
        for p in _ports(spec)
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(route, router_name(route), COMPONENT),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(route, COMPONENT),
            "ports": ports,
        },
    }


def build_pdb(route: RouteRef) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(route, router_name(route), COMPONENT),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(route, COMPONENT)},
        },
    }


def build_hpa(route: RouteRef, spec: HybridRouteSpec) -> Manifest | None:
    scaling = spec.router.autoscaling
    if scaling is None:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(route, router_name(route), COMPONENT),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": router_name(route),
            },
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scaling.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }


def build_service_monitor(route: RouteRef, spec: HybridRouteSpec) -> Manifest:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": metadata(route, router_name(route), COMPONENT),
        "spec": {
            "selector": {"matchLabels": selector_labels(route, COMPONENT)},
            "endpoints": [
                {"port": _ops_port(spec), "path": "/metrics", "interval": spec.monitoring.interval}
            ],
        },
    }
