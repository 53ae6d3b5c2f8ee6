"""The completion flow: decide, call (with cascade, retries and fallback), respond,
then account (metrics, decision log, feedback, shadow) after the client has its answer."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from typing import Any

import msgspec

from hybridroute_router.asgi_types import Send
from hybridroute_router.decision.compare import answer_text
from hybridroute_router.decision.confidence import LogprobAccumulator, is_confident, mean_logprob
from hybridroute_router.decision.reasons import Reason
from hybridroute_router.feedback import base_record
from hybridroute_router.http.context import RequestContext
from hybridroute_router.http.errors import HttpError
from hybridroute_router.http.forward import (
    LARGE_VERSION,
    Call,
    Candidate,
    call_with_fallback,
    candidates,
)
from hybridroute_router.http.parse import CHAT
from hybridroute_router.http.respond import (
    Sent,
    passthrough_headers,
    send_body,
    send_buffered,
    send_stream,
    sse_events,
    sse_usage,
    streamed_text,
    strip_logprobs,
    strip_sse_logprobs,
)
from hybridroute_router.http.usage import record_usage, usage_tokens
from hybridroute_router.shadow import ShadowJob
from hybridroute_router.upstream.http1 import UpstreamError

_decoder = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode


def _encoder(body: dict[str, Any]) -> Callable[[Candidate], bytes]:
    """The request bytes for each candidate: the body with its upstream model id."""

    def encode(cand: Candidate) -> bytes:
        body["model"] = cand.client.model
        return _encode(body)

    return encode


def _fallback_reason(ctx: RequestContext, call: Call) -> tuple[str, bool]:
    """(reason, degraded) for the candidate that answered."""
    if not call.fallback:
        return ctx.decision.reason.value, False
    if call.cand.role == "large":
        return Reason.FALLBACK_SMALL_TO_LARGE.value, False
    return Reason.FALLBACK_LARGE_TO_SMALL.value, True


async def forward(ctx: RequestContext, send: Send) -> Sent:
    """Route without a cascade: primary, then fallback; stream or buffer as asked."""
    call = await call_with_fallback(ctx, candidates(ctx, ctx.decision.target), _encoder(ctx.body))
    reason, degraded = _fallback_reason(ctx, call)
    ctx.response_started = time.perf_counter()
    if ctx.stream and call.resp.status == 200:
        return await send_stream(ctx, send, call.resp, call.cand, reason, degraded)
    return await send_buffered(ctx, send, call.resp, call.cand, reason, degraded)


def _with_logprobs(ctx: RequestContext) -> tuple[dict[str, Any], bool]:
    """The body for the small model's cascade call, and whether the client asked for
    logprobs itself (then they are passed through, else stripped)."""
    body = dict(ctx.body)
    if ctx.endpoint == CHAT:
        wanted = bool(body.get("logprobs"))
        body["logprobs"] = True
    else:
        current = body.get("logprobs")
        wanted = isinstance(current, int) and not isinstance(current, bool) and current > 0
        body["logprobs"] = current if wanted else 1
    return body, wanted


async def cascade(ctx: RequestContext, send: Send) -> Sent:
    """Ask the small model first with logprobs; escalate to large below the threshold.

    Non-streaming: the small answer is read whole, then judged. Streaming (only with
    ``confidence.streaming: buffer``): the small stream is buffered, judged, then either
    replayed or discarded for the large model's stream; nothing reaches the client
    before the decision.
    """
    small_body, wanted = _with_logprobs(ctx)
    call = await call_with_fallback(ctx, candidates(ctx, "small"), _encoder(small_body))
    if not wanted and call.cand.role == "small" and 400 <= call.resp.status < 500:
        # The small server refused the logprobs the cascade added (the client did not
        # ask for them): ask again with the client's own body, without a cascade.
        return await _without_logprobs(ctx, send, call)
    if call.cand.role != "small" or call.resp.status != 200:  # fell back, or client error
        reason, degraded = _fallback_reason(ctx, call)
        ctx.response_started = time.perf_counter()
        if ctx.stream and call.resp.status == 200:
            return await send_stream(ctx, send, call.resp, call.cand, reason, degraded)
        return await send_buffered(ctx, send, call.resp, call.cand, reason, degraded)
    headers = passthrough_headers(call.resp)
    try:
        data = await call.resp.read()
    except UpstreamError:
        return await forward_large_after_small_failed(ctx, send)
    parsed: Any = None
    if ctx.stream:
        events = sse_events(data)
        acc = LogprobAccumulator()
        for event in events:
            acc.add(event)
        mean = acc.mean
        small_tokens = sse_usage(events)
    else:
        try:
            parsed = _decoder.decode(data)
        except msgspec.DecodeError:
            parsed = None
        mean = mean_logprob(parsed)
        small_tokens = usage_tokens(parsed.get("usage") if isinstance(parsed, dict) else None)
    ctx.extra["small_mean_logprob"] = mean
    threshold = ctx.state.policy.confidence.min_mean_logprob
    confident = is_confident(mean, threshold)
    if confident is False:
        escalated = await escalate(ctx, send, call.cand, mean)
        if escalated is not None:
            # the small answer was discarded, but it was paid for
            record_usage(ctx, "small", call.cand.version, small_tokens)
            return escalated
        reason, degraded = Reason.FALLBACK_LARGE_TO_SMALL.value, True
    elif confident is None:
        reason, degraded = Reason.CONFIDENCE_UNAVAILABLE.value, False
    else:
        reason, degraded = ctx.decision.reason.value, False
    if not wanted:
        if ctx.stream:
            data = strip_sse_logprobs(data)
        elif parsed is not None:
            strip_logprobs(parsed)
            data = _encode(parsed)
    ctx.response_started = time.perf_counter()
    sent = await send_body(ctx, send, call.cand, 200, headers, data, reason, degraded)
    if ctx.stream:  # a replayed SSE body: its usage is in its events, not one JSON object
        sent.usage_chunk = data
    else:
        sent.parsed = parsed
    return sent


async def _without_logprobs(ctx: RequestContext, send: Send, refused: Call) -> Sent:
    with contextlib.suppress(UpstreamError):
        await refused.resp.read()  # small error body: keeps the connection reusable
    call = await call_with_fallback(ctx, candidates(ctx, "small"), _encoder(ctx.body))
    if call.fallback:
        reason, degraded = _fallback_reason(ctx, call)
    else:
        reason, degraded = Reason.CONFIDENCE_UNAVAILABLE.value, False
    ctx.response_started = time.perf_counter()
    if ctx.stream and call.resp.status == 200:
        return await send_stream(ctx, send, call.resp, call.cand, reason, degraded)
    return await send_buffered(ctx, send, call.resp, call.cand, reason, degraded)


async def forward_large_after_small_failed(ctx: RequestContext, send: Send) -> Sent:
    call = await call_with_fallback(ctx, candidates(ctx, "large")[:1], _encoder(ctx.body))
    ctx.response_started = time.perf_counter()
    reason = Reason.FALLBACK_SMALL_TO_LARGE.value
    if ctx.stream and call.resp.status == 200:
        return await send_stream(ctx, send, call.resp, call.cand, reason, False)
    return await send_buffered(ctx, send, call.resp, call.cand, reason, False)


async def escalate(
    ctx: RequestContext, send: Send, small: Candidate, mean: float | None
) -> Sent | None:
    """Send to large after a low-confidence small answer; None when large failed (the
    caller then serves the small answer, marked degraded)."""
    state = ctx.state
    policy = state.policy
    m = ctx.rt.metrics
    m.child(
        m.escalations, policy.route, small.version, Reason.LOW_CONFIDENCE_ESCALATION.value
    ).inc()
    ctx.extra["escalated"] = True
    record = base_record(
        "escalation",
        route=policy.route,
        request_id=ctx.request_id,
        version=small.version,
        prompt=ctx.features.prompt,
        prompt_hmac=ctx.extra["prompt_hmac"],
        log_prompts=policy.logging.log_prompts,
    )
    record.update(
        score=ctx.decision.score,
        scorer=state.scorer.scorer.name,
        small_mean_logprob=mean,
        min_mean_logprob=policy.confidence.min_mean_logprob,
    )
    ctx.rt.feedback_log.write(record)
    large = Candidate("large", LARGE_VERSION, state.large)
    try:
        call = await call_with_fallback(ctx, [large], _encoder(ctx.body))
    except HttpError:
        return None
    if call.resp.status != 200:  # e.g. large refuses a parameter: keep the small answer
        with contextlib.suppress(UpstreamError):
            await call.resp.read()
        return None
    reason = Reason.LOW_CONFIDENCE_ESCALATION.value
    ctx.response_started = time.perf_counter()
    if ctx.stream:
        return await send_stream(ctx, send, call.resp, call.cand, reason, False)
    return await send_buffered(ctx, send, call.resp, call.cand, reason, False)


def shadow_percent(ctx: RequestContext) -> float:
    """The shadow share for this request: its small version's own (a canary under
    analysis), else the policy's."""
    version = ctx.decision.version
    if version is not None and version.shadow_percent is not None:
        return version.shadow_percent
    return ctx.state.policy.shadow.percent


def shadow_sampled(ctx: RequestContext) -> bool:
    percent = shadow_percent(ctx)
    return percent > 0 and random.random() * 100.0 < percent  # noqa: S311 - sampling only


def _primary_answer(ctx: RequestContext, sent: Sent) -> str | None:
    """The text the client got, or None when this answer is not shadowed."""
    if ctx.stream:  # sampled before the stream started, so the chunks were kept
        if not ctx.extra.get("shadow"):
            return None
        data = sent.body if sent.body is not None else b"".join(sent.chunks or ())
        return streamed_text(data)
    if sent.body is None or not shadow_sampled(ctx):
        return None
    if sent.parsed is None:
        try:
            sent.parsed = _decoder.decode(sent.body)
        except msgspec.DecodeError:
            return None
    return answer_text(sent.parsed)


def maybe_shadow(ctx: RequestContext, sent: Sent) -> None:
    """Queue a shadow comparison for a share of successful answers (streamed or not)."""
    state = ctx.state
    version = ctx.decision.version
    if version is None or shadow_percent(ctx) <= 0 or sent.status != 200:
        return
    if ctx.extra.get("escalated"):  # both models already answered this one
        return
    answer = _primary_answer(ctx, sent)
    if answer is None:
        return
    other = state.large if sent.role == "small" else state.small[version.name]
    ctx.rt.shadow.submit(
        ShadowJob(
            state=state,
            endpoint=ctx.endpoint,
            body=ctx.body,
            primary=sent.role,
            version=version.name,
            other=other,
            primary_answer=answer,
            request_id=ctx.request_id,
            prompt=ctx.features.prompt,
            prompt_hmac=ctx.extra["prompt_hmac"],
            score=ctx.decision.score,
        )
    )
