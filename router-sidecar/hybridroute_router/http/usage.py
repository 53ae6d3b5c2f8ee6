"""Token usage, the one place that reads it: from a JSON answer, from SSE events (a
passing stream or a buffered one), and the token, cost and energy counters it feeds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from hybridroute_policy import LargeModel, SmallModel

from hybridroute_router.decision.sse import split_events, sse_events

if TYPE_CHECKING:
    from hybridroute_router.http.request import Request

Tokens = tuple[int, int]
"""(prompt_tokens, completion_tokens); (0, 0) when the upstream reported none."""
NO_TOKENS: Tokens = (0, 0)

_decoder = msgspec.json.Decoder()
_MAX_TAIL = 65536
"""A stream's incomplete last event is dropped past this size: no usage event is that long."""


def usage_tokens(usage: Any) -> Tokens:
    """The tokens of a ``usage`` object."""
    if not isinstance(usage, dict):
        return NO_TOKENS
    p, c = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (p if isinstance(p, int) else 0, c if isinstance(c, int) else 0)


def json_tokens(answer: Any) -> Tokens:
    """The tokens of a decoded (non-streamed) JSON answer."""
    return usage_tokens(answer.get("usage")) if isinstance(answer, dict) else NO_TOKENS


def events_tokens(events: list[Any]) -> Tokens:
    """The tokens of decoded SSE events: the last event carrying a usage object."""
    usage: Any = None
    for event in events:
        if isinstance(event, dict) and isinstance(event.get("usage"), dict):
            usage = event["usage"]
    return usage_tokens(usage)


def sse_tokens(data: bytes | None) -> Tokens:
    """The tokens of (a part of) an SSE body."""
    return events_tokens(sse_events(data)) if data is not None else NO_TOKENS


def decode_answer(body: bytes) -> Any:
    """A JSON answer decoded once (for its usage, and for the shadow comparison); None
    when it is not JSON."""
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError:
        return None


class _UsageOnly(msgspec.Struct):
    usage: Any = None


_usage_only = msgspec.json.Decoder(_UsageOnly)


def body_tokens(body: bytes) -> Tokens:
    """The tokens of a JSON answer read from its bytes, decoding only its ``usage``
    (the rest is checked and skipped, not built into objects): for an answer nobody
    reads further. The same as ``json_tokens(decode_answer(body))``."""
    try:
        return usage_tokens(_usage_only.decode(body).usage)
    except msgspec.DecodeError:  # not JSON, or not an object
        return NO_TOKENS


def answer_tokens(parsed: Any, sse: bytes | None) -> Tokens:
    """The tokens of a delivered answer: its decoded JSON body, else its SSE events."""
    if isinstance(parsed, dict):
        return usage_tokens(parsed.get("usage"))
    return sse_tokens(sse)


class StreamUsage:
    """Follows a passing SSE stream chunk by chunk and keeps the last complete events
    that carried a usage object (an event may be split anywhere across chunks)."""

    __slots__ = ("events", "tail")

    def __init__(self) -> None:
        self.tail = b""
        self.events: bytes | None = None

    def feed(self, chunk: bytes) -> None:
        if self.tail or not chunk.endswith(b"\n\n"):
            complete, self.tail = split_events(self.tail + chunk)
            if len(self.tail) > _MAX_TAIL:
                self.tail = b""
        else:
            complete = chunk
        if b'"usage"' in complete:
            self.events = complete

    def end(self) -> None:
        """The stream ended: a last event without its blank line still counts."""
        if b'"usage"' in self.tail:
            self.events = self.tail


def price(model: LargeModel | SmallModel, tokens: Tokens) -> tuple[float, float]:
    """(USD, joules) of an answer of ``model`` with these (prompt, completion) tokens."""
    prompt_tokens, completion_tokens = tokens
    pricing = model.pricing
    cost = (
        prompt_tokens * pricing.input_per_1k_tokens
        + completion_tokens * pricing.output_per_1k_tokens
    ) / 1000.0
    energy = (prompt_tokens + completion_tokens) * model.energy.joules_per_1k_tokens / 1000.0
    return cost, energy


def record_usage(req: Request, role: str, version: str, tokens: Tokens) -> float:
    """Count tokens, cost and energy for one upstream answer (also a discarded one,
    such as the small answer before an escalation: it was paid for); its joules."""
    prompt_tokens, completion_tokens = tokens
    if not (prompt_tokens or completion_tokens):
        return 0.0
    m = req.rt.metrics
    policy = req.state.policy
    route = policy.route
    model = policy.large if role == "large" else policy.small
    m.child(m.tokens, route, role, version, "prompt").inc(prompt_tokens)
    m.child(m.tokens, route, role, version, "completion").inc(completion_tokens)
    cost, energy = price(model, tokens)
    m.child(m.cost, route, role, version).inc(cost)
    m.child(m.energy, route, role, version).inc(energy)
    return energy


def record_request_energy(
    req: Request, role: str, version: str, tokens: Tokens, joules: float
) -> None:
    """Once per answered request: its energy (``joules``: every upstream answer it used),
    and for an answer from the small model what it saved against the large model at the
    same token counts (never below 0: a small model priced above the large saves nothing)."""
    if not (tokens[0] or tokens[1] or joules):
        return  # no usage reported: unknown, not zero
    m = req.rt.metrics
    policy = req.state.policy
    m.child(m.request_energy, policy.route, role).observe(joules)
    if role != "small":
        return
    large_cost, large_energy = price(policy.large, tokens)
    cost, energy = price(policy.small, tokens)
    m.child(m.cost_saved, policy.route, version).inc(max(large_cost - cost, 0.0))
    m.child(m.energy_saved, policy.route, version).inc(max(large_energy - energy, 0.0))
