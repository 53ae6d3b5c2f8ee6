"""After the response: metrics, the decision log, the memory for feedback, shadow."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from hybridroute_router.feedback import Remembered
from hybridroute_router.http.completions import maybe_shadow
from hybridroute_router.http.context import RequestContext
from hybridroute_router.http.respond import Sent, usage_of
from hybridroute_router.http.usage import record_request_energy, record_usage

_decoder = msgspec.json.Decoder()


def account(ctx: RequestContext, sent: Sent) -> None:
    now = time.perf_counter()
    duration = now - ctx.t0
    if ctx.stream:  # streams: what the router added before the first byte
        started = ctx.response_started or now
        overhead = max(started - ctx.t0 - ctx.upstream_seconds, 0.0)
    else:
        overhead = max(duration - ctx.upstream_seconds, 0.0)
    if not ctx.stream and sent.status == 200 and sent.parsed is None and sent.body is not None:
        try:
            sent.parsed = _decoder.decode(sent.body)
        except msgspec.DecodeError:
            sent.parsed = None
    tokens = usage_of(sent)
    _observe(ctx, sent, duration, overhead, tokens)
    ctx.rt.decision_log.write(decision_record(ctx, sent, duration, overhead, tokens))
    log_prompts = ctx.state.policy.logging.log_prompts
    ctx.rt.recent.remember(
        ctx.request_id,
        Remembered(
            sent.role,
            sent.version if sent.role == "small" else None,
            ctx.extra["prompt_hmac"],
            ctx.features.prompt if log_prompts else None,
        ),
    )
    maybe_shadow(ctx, sent)


def _observe(
    ctx: RequestContext, sent: Sent, duration: float, overhead: float, tokens: tuple[int, int]
) -> None:
    m = ctx.rt.metrics
    policy = ctx.state.policy
    route = policy.route
    m.child(m.requests, route, sent.role, sent.version, sent.reason, str(sent.status)).inc()
    m.child(m.request_duration, route, sent.role).observe(duration)
    m.child(m.overhead, route).observe(overhead)
    m.child(m.decision_score, route).observe(ctx.decision.score)
    record_usage(ctx, sent.role, sent.version, tokens)
    record_request_energy(ctx, sent.role, sent.version, tokens)


def decision_record(
    ctx: RequestContext, sent: Sent, duration: float, overhead: float, tokens: tuple[int, int]
) -> dict[str, Any]:
    """One decision-log line (docs/router.md, "Decision log")."""
    d = ctx.decision
    record: dict[str, Any] = {
        "time": time.time(),
        "request_id": ctx.request_id,
        "route": ctx.state.policy.route,
        "endpoint": ctx.endpoint,
        "stream": ctx.stream,
        "status": sent.status,
        "model": sent.role,
        "version": sent.version,
        "reason": sent.reason,
        "decision": {
            "target": d.target,
            "reason": d.reason.value,
            "score": d.score,
            "threshold": d.threshold,
            "tier": d.tier,
            "cascade": d.cascade,
            "scores": d.scores,
        },
        "degraded": sent.degraded,
        "duration_ms": round(duration * 1000, 3),
        "overhead_ms": round(overhead * 1000, 3),
        "prompt_tokens": tokens[0],
        "completion_tokens": tokens[1],
        "prompt_chars": len(ctx.features.prompt),
    }
    if ctx.extra["prompt_hmac"] is not None:
        record["prompt_hmac"] = ctx.extra["prompt_hmac"]
    if "small_mean_logprob" in ctx.extra:
        record["small_mean_logprob"] = ctx.extra["small_mean_logprob"]
    if ctx.state.policy.logging.log_prompts:
        record["prompt"] = ctx.features.prompt
    return record
