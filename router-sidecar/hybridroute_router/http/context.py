"""Per-request context passed through the completion flow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from hybridroute_router.asgi_types import Receive
    from hybridroute_router.decision.decide import Decision
    from hybridroute_router.decision.features import Features
    from hybridroute_router.runtime import Runtime
    from hybridroute_router.state import RouterState


@dataclass(slots=True)
class RequestContext:
    rt: Runtime
    state: RouterState
    request_id: str
    endpoint: str
    body: dict[str, Any]
    stream: bool
    t0: float
    features: Features
    decision: Decision
    forward_headers: bytes
    """Extra upstream request header lines: x-request-id and any incoming trace context."""
    forward_headers_without_trace: bytes
    receive: Receive | None = None
    """The ASGI receive channel: streams watch it to stop when the client goes away."""
    trace_context: Context | None = None
    root_span: Any = None
    upstream_seconds: float = 0.0
    response_started: float = 0.0
    client_gone: bool = False
    """The client disconnected while its answer was being sent."""
    joules: float = 0.0
    """Energy of the upstream answers this request used so far (usage.record_usage)."""
    extra: dict[str, Any] = field(default_factory=dict)
