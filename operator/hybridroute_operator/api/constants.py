"""Names of the HybridRoute API and of the labels the operator puts on its children."""

from typing import Final

GROUP: Final = "inferensys.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "HybridRoute"
PLURAL: Final = "hybridroutes"
SINGULAR: Final = "hybridroute"
SHORT_NAME: Final = "hroute"

FIELD_MANAGER: Final = "hybridroute-operator"
MANAGED_BY: Final = "hybridroute-operator"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_ROUTE: Final = f"{GROUP}/route"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"

# Route names end up in child names such as "<route>-small-<version>" (<= 63 characters).
MAX_ROUTE_NAME: Final = 40
MAX_VERSION_NAME: Final = 16
ROUTER_PORT: Final = 8080  # the router container's API port
