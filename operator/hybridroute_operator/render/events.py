"""Events on a HybridRoute (pure): what ``kubectl describe hroute`` and
``kubectl get events`` show for the control loops' decisions."""

from __future__ import annotations

from typing import Literal

from hybridroute_operator.api.constants import API_VERSION, KIND
from hybridroute_operator.render.common import Manifest, RouteRef

COMPONENT = "hybridroute-operator"
MAX_MESSAGE = 1024  # the API server refuses longer Event messages


def build_event(
    route: RouteRef, type_: Literal["Normal", "Warning"], reason: str, message: str, now: str
) -> Manifest:
    """A core/v1 Event about ``route``; ``now`` is an RFC 3339 UTC time."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{route.name}.", "namespace": route.namespace},
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": route.name,
            "namespace": route.namespace,
            "uid": route.uid,
        },
        "type": type_,
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
    }
