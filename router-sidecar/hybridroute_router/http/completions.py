"""The completion flow: call the upstreams (:mod:`forward`), choose the answer
(:mod:`choose`, pure), deliver it (:mod:`deliver`). A cascade asks the small model first
with logprobs, judges its answer, and escalates to the large model below the threshold."""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec

from hybridroute_router.asgi_types import Send
from hybridroute_router.decision.confidence import LogprobAccumulator, mean_logprob
from hybridroute_router.decision.reasons import Reason
from hybridroute_router.decision.sse import sse_events
from hybridroute_router.feedback import base_record
from hybridroute_router.http.choose import (
    SMALL_UNREADABLE,
    CascadeStep,
    Judged,
    Pick,
    Verdict,
    cascade_answer,
    cascade_step,
    routed,
    verdict,
    without_logprobs,
)
from hybridroute_router.http.deliver import Sent, deliver, deliver_body, passthrough_headers
from hybridroute_router.http.errors import HttpError
from hybridroute_router.http.forward import (
    LARGE_VERSION,
    Call,
    Candidate,
    call_with_fallback,
    candidates,
    encoder,
)
from hybridroute_router.http.parse import CHAT
from hybridroute_router.http.request import Request, Timings
from hybridroute_router.http.usage import events_tokens, json_tokens
from hybridroute_router.upstream.http1 import UpstreamError

_decoder = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode


async def serve(req: Request, timings: Timings, send: Send) -> Sent:
    """Answer a decided request; an :class:`HttpError` when every upstream failed."""
    d = req.decision
    if d.cascade and d.target == "small":
        return await cascade(req, timings, send)
    call = await call_with_fallback(req, timings, candidates(req, d.target), encoder(req.body))
    return await deliver(req, timings, send, call, routed(d.reason, call.cand.role, call.fallback))


async def cascade(req: Request, timings: Timings, send: Send) -> Sent:
    """Ask the small model first with logprobs; escalate to large below the threshold.

    Non-streaming: the small answer is read whole, then judged. Streaming (only with
    ``confidence.streaming: buffer``): the small stream is buffered, judged, then either
    replayed or discarded for the large model's stream; nothing reaches the client
    before the verdict.
    """
    small_body, wanted = _with_logprobs(req)
    call = await call_with_fallback(req, timings, candidates(req, "small"), encoder(small_body))
    step = cascade_step(wanted, call.cand.role, call.resp.status)
    if step is CascadeStep.RETRY_WITHOUT_LOGPROBS:
        with contextlib.suppress(UpstreamError):
            await call.resp.read()  # small error body: keeps the connection reusable
        call = await call_with_fallback(req, timings, candidates(req, "small"), encoder(req.body))
        return await deliver(
            req, timings, send, call, without_logprobs(call.cand.role, call.fallback)
        )
    if step is CascadeStep.DELIVER:  # fell back to large, or the client's error
        answer = routed(req.decision.reason, call.cand.role, call.fallback)
        return await deliver(req, timings, send, call, answer)
    headers = passthrough_headers(call.resp)
    try:
        data = await call.resp.read()
    except UpstreamError:
        large = candidates(req, "large")[:1]
        call = await call_with_fallback(req, timings, large, encoder(req.body))
        return await deliver(req, timings, send, call, SMALL_UNREADABLE)
    mean, read = _judge(req.stream, data)
    judged = verdict(mean, req.state.policy.confidence.min_mean_logprob)
    escalation = None
    if judged is Verdict.LOW_CONFIDENCE:
        escalation = await _escalate(req, timings, call.cand, mean)
    status = escalation.resp.status if escalation is not None else None
    answer = cascade_answer(req.decision.reason, judged, status)
    if answer.pick is Pick.LARGE and escalation is not None:
        sent = await deliver(req, timings, send, escalation, answer)
        tokens = events_tokens(read) if req.stream else json_tokens(read)
        sent.judged = Judged(mean, judged, tokens)  # the small answer was paid for
        return sent
    if escalation is not None:  # e.g. large refused a parameter: keep the small answer
        with contextlib.suppress(UpstreamError):
            await escalation.resp.read()
    parsed = None if req.stream else read
    if not wanted:
        if req.stream:
            data = strip_sse_logprobs(data)
        elif parsed is not None:
            strip_logprobs(parsed)
            data = _encode(parsed)
    sent = await deliver_body(req, timings, send, call.cand, headers, data, answer, parsed)
    sent.judged = Judged(mean, judged)
    return sent


def _with_logprobs(req: Request) -> tuple[dict[str, Any], bool]:
    """The body for the small model's cascade call, and whether the client asked for
    logprobs itself (then they are passed through, else stripped)."""
    body = dict(req.body)
    if req.endpoint == CHAT:
        wanted = bool(body.get("logprobs"))
        body["logprobs"] = True
    else:
        current = body.get("logprobs")
        wanted = isinstance(current, int) and not isinstance(current, bool) and current > 0
        body["logprobs"] = current if wanted else 1
    return body, wanted


def _judge(stream: bool, data: bytes) -> tuple[float | None, Any]:
    """(mean logprob of the first choice, the decoded answer: SSE events or JSON)."""
    if stream:
        events = sse_events(data)
        acc = LogprobAccumulator()
        for event in events:
            acc.add(event)
        return acc.mean, events
    try:
        parsed = _decoder.decode(data)
    except msgspec.DecodeError:
        parsed = None
    return mean_logprob(parsed), parsed


async def _escalate(
    req: Request, timings: Timings, small: Candidate, mean: float | None
) -> Call | None:
    """Ask the large model after a low-confidence small answer (counted and logged);
    None when every attempt failed."""
    state = req.state
    policy = state.policy
    m = req.rt.metrics
    m.child(
        m.escalations, policy.route, small.version, Reason.LOW_CONFIDENCE_ESCALATION.value
    ).inc()
    record = base_record(
        "escalation",
        route=policy.route,
        request_id=req.request_id,
        version=small.version,
        prompt=req.features.prompt,
        prompt_hmac=req.prompt_hmac,
        log_prompts=policy.logging.log_prompts,
    )
    record.update(
        score=req.decision.score,
        scorer=state.scorer.scorer.name,
        small_mean_logprob=mean,
        min_mean_logprob=policy.confidence.min_mean_logprob,
    )
    req.rt.feedback_log.write(record)
    large = Candidate("large", LARGE_VERSION, state.large)
    try:
        return await call_with_fallback(req, timings, [large], encoder(req.body))
    except HttpError:
        return None


def strip_logprobs(parsed: Any) -> None:
    """Null the logprobs the router added for the cascade (the client did not ask)."""
    if isinstance(parsed, dict) and isinstance(parsed.get("choices"), list):
        for choice in parsed["choices"]:
            if isinstance(choice, dict) and "logprobs" in choice:
                choice["logprobs"] = None


def strip_sse_logprobs(data: bytes) -> bytes:
    lines = []
    for line in data.split(b"\n"):
        if line.startswith(b"data:") and b'"logprobs"' in line:
            try:
                event = _decoder.decode(line[5:].strip())
            except msgspec.DecodeError:
                lines.append(line)
                continue
            strip_logprobs(event)
            line = b"data: " + _encode(event)
        lines.append(line)
    return b"\n".join(lines)
