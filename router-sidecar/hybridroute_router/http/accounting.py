"""After the response: metrics, the decision log, the memory for feedback, shadow."""

from __future__ import annotations

import time
from typing import Any

from hybridroute_router.feedback import Remembered
from hybridroute_router.http.deliver import Sent
from hybridroute_router.http.request import Request, Timings
from hybridroute_router.http.usage import (
    Tokens,
    answer_tokens,
    body_tokens,
    decode_answer,
    record_request_energy,
    record_usage,
)
from hybridroute_router.shadow import primary_text


def account(req: Request, timings: Timings, sent: Sent) -> None:
    now = time.perf_counter()
    t0 = timings.t0
    duration = now - t0
    if req.stream:  # streams: what the router added before the first byte
        started = timings.response_started or now
        overhead = max(started - t0 - timings.upstream_seconds, 0.0)
    else:
        overhead = max(duration - timings.upstream_seconds, 0.0)
    parsed = sent.parsed
    if parsed is None and not req.stream and sent.status == 200 and sent.body is not None:
        if req.shadow_sampled:  # the comparison reads the answer too: decode it all once
            parsed = decode_answer(sent.body)
            tokens = answer_tokens(parsed, None)
        else:
            tokens = body_tokens(sent.body)
    else:
        tokens = answer_tokens(parsed, sent.sse if sent.usage is None else sent.usage.events)
    _observe(req, sent, duration, overhead, tokens)
    req.rt.decision_log.write(decision_record(req, sent, duration, overhead, tokens))
    log_prompts = req.state.policy.logging.log_prompts
    req.rt.recent.remember(
        req.request_id,
        Remembered(
            sent.role,
            sent.version if sent.role == "small" else None,
            req.prompt_hmac,
            req.features.prompt if log_prompts else None,
        ),
    )
    if req.shadow_sampled:
        _shadow(req, sent, parsed)


def _shadow(req: Request, sent: Sent, parsed: Any) -> None:
    """Offer a sampled, successful answer for a shadow comparison (not an escalated one:
    both models already answered it)."""
    version = req.decision.version
    if version is None or sent.status != 200 or (sent.judged and sent.judged.escalated):
        return
    req.rt.shadow.offer(
        req.state,
        version=version.name,
        primary=sent.role,
        answer=primary_text(req.stream, sent.body, sent.chunks, parsed),
        endpoint=req.endpoint,
        body=req.body,
        request_id=req.request_id,
        prompt=req.features.prompt,
        prompt_hmac=req.prompt_hmac,
        score=req.decision.score,
    )


def _observe(req: Request, sent: Sent, duration: float, overhead: float, tokens: Tokens) -> None:
    m = req.rt.metrics
    route = req.state.policy.route
    m.child(m.requests, route, sent.role, sent.version, sent.reason.value, str(sent.status)).inc()
    m.child(m.request_duration, route, sent.role).observe(duration)
    m.child(m.overhead, route).observe(overhead)
    m.child(m.decision_score, route).observe(req.decision.score)
    joules = record_usage(req, sent.role, sent.version, tokens)
    judged = sent.judged
    small = req.decision.version
    if judged is not None and small is not None and judged.discarded_tokens != (0, 0):
        joules += record_usage(req, "small", small.name, judged.discarded_tokens)
    record_request_energy(req, sent.role, sent.version, tokens, joules)


def decision_record(
    req: Request, sent: Sent, duration: float, overhead: float, tokens: Tokens
) -> dict[str, Any]:
    """One decision-log line (docs/router.md, "Decision log")."""
    d = req.decision
    record: dict[str, Any] = {
        "time": time.time(),
        "request_id": req.request_id,
        "route": req.state.policy.route,
        "endpoint": req.endpoint,
        "stream": req.stream,
        "status": sent.status,
        "model": sent.role,
        "version": sent.version,
        "reason": sent.reason.value,
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
        "prompt_chars": len(req.features.prompt),
    }
    if req.prompt_hmac is not None:
        record["prompt_hmac"] = req.prompt_hmac
    if sent.judged is not None:
        record["small_mean_logprob"] = sent.judged.mean_logprob
    if req.state.policy.logging.log_prompts:
        record["prompt"] = req.features.prompt
    return record
