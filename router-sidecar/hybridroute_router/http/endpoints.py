"""The small endpoints: readiness, models, explain and user feedback."""

from __future__ import annotations

import hmac
from typing import Any

import msgspec

from hybridroute_router.asgi_types import Receive, Scope, Send
from hybridroute_router.feedback import user_record
from hybridroute_router.http.errors import HttpError
from hybridroute_router.http.forward import LARGE_VERSION
from hybridroute_router.http.parse import decode_json
from hybridroute_router.http.request import Request
from hybridroute_router.http.wire import JSON, REQUEST_ID, error, read_body, respond
from hybridroute_router.runtime import Runtime
from hybridroute_router.state import RouterState

_encode = msgspec.json.Encoder().encode
FEEDBACK_MAX_BYTES = 65536


def readiness(state: RouterState) -> dict[str, Any]:
    return {
        "status": "ready",
        "route": state.policy.route,
        "policy": state.digest,
        "source": state.source,
        "policy_defaults": state.defaults,
        "scorer": state.scorer.scorer.name,
        "scorer_requested": state.scorer.requested,
        "scorer_fallback_reason": state.scorer.fallback_reason,
        "scorer_artifact_sha256": state.scorer.artifact_sha256,
        "scorer_examples_sha256": state.scorer.examples_sha256,
    }


async def serve_model(rt: Runtime, send: Send, model_id: str) -> None:
    public = rt.state.policy.public_model
    if model_id != public:
        exc = HttpError(
            404,
            f"The model '{model_id[:200]}' does not exist",
            code="model_not_found",
            param="model",
        )
        return await error(send, exc)
    body = {"id": public, "object": "model", "created": 0, "owned_by": "hybridroute"}
    await respond(send, 200, _encode(body))


def explanation(req: Request) -> dict[str, Any]:
    d = req.decision
    f = req.features
    state = req.state
    if d.target == "large" or d.version is None:
        model, version = state.large.model, LARGE_VERSION
    else:
        model, version = d.version.upstream.model, d.version.name
    return {
        "request_id": req.request_id,
        "decision": {
            "target": d.target,
            "model": model,
            "version": version,
            "reason": d.reason.value,
            "score": d.score,
            "threshold": d.threshold,
            "tier": d.tier,
            "cascade": d.cascade,
            "scores": d.scores,
            "scorer": state.scorer.scorer.name,
            "scorer_fallback_reason": state.scorer.fallback_reason,
        },
        "features": {
            "tokens": f.tokens,
            "has_code": f.has_code,
            "has_math": f.has_math,
            "multi_step": f.multi_step,
            "questions": f.questions,
            "depth": f.depth,
        },
    }


async def serve_explain(send: Send, req: Request) -> None:
    info = explanation(req)
    d = info["decision"]
    headers = [
        (b"x-hybridroute-model", d["model"].encode("latin-1", "replace")),
        (b"x-hybridroute-version", d["version"].encode("latin-1", "replace")),
        (b"x-hybridroute-reason", d["reason"].encode()),
        (b"x-hybridroute-request-id", req.request_id.encode()),
        (b"x-hybridroute-explain", b"true"),
    ]
    if req.root_span is not None:
        req.root_span.end()
    await respond(send, 200, _encode(info), [*JSON, *headers])


def feedback_item(raw: bytes) -> tuple[str, float, str | None]:
    """(request_id, score, comment) of a feedback body, or a 400."""
    body = decode_json(raw)
    if not isinstance(body, dict):
        raise HttpError(400, "request body must be a JSON object", code="invalid_body")
    rid = body.get("request_id")
    if not isinstance(rid, str) or not REQUEST_ID.fullmatch(rid):
        raise HttpError(400, "'request_id' must be a request id string", param="request_id")
    score = body.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise HttpError(400, "'score' must be a number between 0 and 1", param="score")
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise HttpError(400, "'comment' must be a string", param="comment")
    return rid, float(score), comment


def _authorized(token: bytes | None, scope: Scope) -> bool:
    if token is None:
        return True
    given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
    scheme, _, value = given.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), token)


async def serve_feedback(rt: Runtime, scope: Scope, receive: Receive, send: Send) -> None:
    policy = rt.state.policy
    if not _authorized(rt.options.feedback_token, scope):
        exc = HttpError(401, "feedback needs a valid bearer token", code="invalid_api_key")
        return await error(send, exc, extra=[(b"www-authenticate", b"Bearer")])
    try:
        raw = await read_body(receive, FEEDBACK_MAX_BYTES, None)
        request_id, score, comment = feedback_item(raw)
    except HttpError as exc:
        return await error(send, exc)
    remembered = rt.recent.get(request_id)
    record = user_record(
        route=policy.route,
        request_id=request_id,
        score=score,
        comment=comment,
        remembered=remembered,
        log_prompts=policy.logging.log_prompts,
    )
    rt.feedback_log.write(record)
    rt.metrics.child(rt.metrics.feedback, policy.route).inc()
    if remembered is not None and remembered.version is not None:  # a small version answered
        m = rt.metrics
        m.child(m.feedback_score, policy.route, remembered.version).observe(score)
    logged = rt.feedback_log.writable
    await respond(send, 202, _encode({"status": "accepted", "logged": logged}))
