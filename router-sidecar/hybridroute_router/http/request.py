"""One completion request as the pipeline sees it: a frozen :class:`Request` (the facts,
fixed once :mod:`prepare` built it) and the small mutable :class:`Timings`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from hybridroute_router.asgi_types import Receive
    from hybridroute_router.decision.decide import Decision
    from hybridroute_router.decision.features import Features
    from hybridroute_router.runtime import Runtime
    from hybridroute_router.state import RouterState


class Request(NamedTuple):
    """Immutable. A NamedTuple rather than a frozen dataclass: one is built per request,
    and a frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field) costs
    about four times as much."""

    rt: Runtime
    state: RouterState
    """The policy snapshot this request keeps to its end."""
    request_id: str
    endpoint: str
    """Relative to /v1: '/chat/completions' or '/completions'."""
    body: dict[str, Any]
    """The client's body as parsed (its ``model`` is set to each upstream's before that
    call is encoded: the dict itself is not copied)."""
    stream: bool
    features: Features
    decision: Decision
    forward_headers: bytes
    """Extra upstream request header lines: x-request-id and any incoming trace context."""
    forward_headers_without_trace: bytes
    prompt_hmac: str | None
    shadow_sampled: bool
    """Sampled for a shadow comparison (decided up front: a shadowed stream keeps its
    chunks)."""
    receive: Receive | None = None
    """The ASGI receive channel: a stream watches it to stop when the client goes away."""
    trace_context: Context | None = None
    root_span: Any = None


@dataclass(slots=True)
class Timings:
    """Clock readings of one request (``time.perf_counter`` seconds)."""

    t0: float
    """When the request arrived (set by the app)."""
    upstream_seconds: float = 0.0
    """Time spent waiting on upstream calls (added to by :mod:`forward`)."""
    response_started: float = 0.0
    """When the response to the client started (set by :mod:`deliver`)."""
