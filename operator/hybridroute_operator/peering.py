"""Which replica works: kopf's peering rule, read from the peering objects.

kopf pauses only its watches when a peer with a higher (or the same) priority is alive;
the operator's own resync loop and work queue would keep writing. So the runtime reads
the same KopfPeering status kopf keeps and applies kopf's rule (kopf/_core/engines/
peering.py) to decide whether this replica may write: only while no other live peer has
a priority >= its own. A missing peering object also means standby (kopf pauses too).

A replica without an explicit ``--priority`` takes a random one, so that two replicas
of one Deployment never share a priority (kopf pauses *all* same-priority peers)."""

from __future__ import annotations

import datetime
import os
import secrets
import socket
from collections.abc import Mapping
from typing import Any

from hybridroute_operator.api.kinds import Kind

KOPF_PEERING = Kind("kopf.dev/v1", "KopfPeering", "kopfpeerings")
CLUSTER_KOPF_PEERING = Kind("kopf.dev/v1", "ClusterKopfPeering", "clusterkopfpeerings")
PRIORITY_RANGE = 2**30  # random priorities: collisions are negligible, still a small int


def random_priority() -> int:
    return 1 + secrets.randbelow(PRIORITY_RANGE - 1)


def own_identity() -> str:
    """This replica's peer id: the Pod name (``POD_ID``, as kopf uses) or the host, plus
    the process and a random part (a restarted container is a new peer)."""
    base = os.environ.get("POD_ID") or socket.gethostname()
    return f"{base}/{os.getpid()}/{secrets.token_hex(4)}"


def peering_path(name: str, namespace: str | None) -> str:
    """The API path of the peering object: cluster-wide, or one per watched namespace."""
    if namespace is None:
        return f"/apis/{CLUSTER_KOPF_PEERING.api_version}/{CLUSTER_KOPF_PEERING.plural}/{name}"
    return KOPF_PEERING.item(namespace, name)


def _parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def may_work(
    peering: Mapping[str, Any] | None,
    identity: str,
    priority: int,
    now: datetime.datetime,
) -> bool:
    """kopf's rule: work only when no other live peer has the same or a higher priority.
    A missing object, or one this replica has not registered in yet, means standby."""
    if peering is None:
        return False
    peers = peering.get("status") or {}
    if identity not in peers:
        return False
    for peer_id, info in peers.items():
        if peer_id == identity or not isinstance(info, Mapping):
            continue
        lastseen = _parse_time(info.get("lastseen"))
        lifetime = datetime.timedelta(seconds=int(info.get("lifetime", 60)))
        alive = lastseen is None or lastseen + lifetime > now
        if alive and int(info.get("priority", 0)) >= priority:
            return False
    return True
