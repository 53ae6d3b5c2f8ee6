"""The kinds the operator reads or writes, and where they live in the API (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from hybridroute_operator.api.constants import API_VERSION, KIND, PLURAL


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    def collection(self, namespace: str) -> str:
        base = f"/api/{self.api_version}" if not self.group else f"/apis/{self.api_version}"
        return f"{base}/namespaces/{namespace}/{self.plural}"

    def item(self, namespace: str, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"


HYBRIDROUTE = Kind(API_VERSION, KIND, PLURAL)
CONFIGMAP = Kind("v1", "ConfigMap", "configmaps")
SECRET = Kind("v1", "Secret", "secrets")
EVENT = Kind("v1", "Event", "events")
SERVICE = Kind("v1", "Service", "services")
SERVICE_ACCOUNT = Kind("v1", "ServiceAccount", "serviceaccounts")
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments")
ROLE = Kind("rbac.authorization.k8s.io/v1", "Role", "roles")
ROLE_BINDING = Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")
PDB = Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
HPA = Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
SERVICE_MONITOR = Kind("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors")
ENDPOINT_SLICE = Kind("discovery.k8s.io/v1", "EndpointSlice", "endpointslices")

CHILD_KINDS: tuple[Kind, ...] = (
    SERVICE_ACCOUNT,
    ROLE,
    ROLE_BINDING,
    CONFIGMAP,
    SERVICE,
    DEPLOYMENT,
    PDB,
    HPA,
    SERVICE_MONITOR,
)
# Children watched for drift (the ServiceMonitor CRD may be absent: resync covers it).
WATCHED_CHILD_KINDS: tuple[Kind, ...] = CHILD_KINDS[:-1]
# Children that can disappear from the rendered set when the spec changes.
PRUNABLE_KINDS: tuple[Kind, ...] = (SERVICE, HPA, SERVICE_MONITOR)

_BY_KEY = {(k.api_version, k.kind): k for k in (*CHILD_KINDS, HYBRIDROUTE, ENDPOINT_SLICE, EVENT)}


def kind_of(api_version: str, kind: str) -> Kind:
    try:
        return _BY_KEY[(api_version, kind)]
    except KeyError:
        raise KeyError(f"the operator does not manage {api_version} {kind}") from None
