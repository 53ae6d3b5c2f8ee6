"""Shadow testing: mirror a share of requests to the other model, off the request path.

The client's response is sent before a shadow job is even queued. Jobs go into a bounded
queue served by a bounded number of workers; when the queue is full the job is dropped
(counted as ``outcome="dropped"``), so shadow traffic can never delay or fail a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from hybridroute_router.decision.compare import answer_text
from hybridroute_router.decision.sse import streamed_text
from hybridroute_router.feedback import base_record
from hybridroute_router.telemetry.logs import JsonlSink
from hybridroute_router.telemetry.metrics import Metrics
from hybridroute_router.upstream.http1 import UpstreamError

if TYPE_CHECKING:
    from hybridroute_policy import Policy, SmallVersion

    from hybridroute_router.state import RouterState
    from hybridroute_router.upstream.client import UpstreamClient

log = logging.getLogger("hybridroute.router.shadow")
_decoder = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class ShadowJob:
    state: RouterState
    endpoint: str
    body: dict[str, Any]
    primary: str
    """'large' or 'small': the model that answered the client."""
    version: str
    """The small version compared."""
    other: UpstreamClient
    primary_answer: str
    request_id: str
    prompt: str
    prompt_hmac: str | None
    score: float


def shadow_percent(version: SmallVersion | None, policy: Policy) -> float:
    """The shadow share of a request: its small version's own (a canary under analysis),
    else the policy's; 0 without a small version."""
    if version is None:
        return 0.0
    if version.shadow_percent is not None:
        return version.shadow_percent
    return policy.shadow.percent


def sampled(version: SmallVersion | None, policy: Policy) -> bool:
    """Whether a request is shadowed (decided once, before its answer: a shadowed stream
    keeps its chunks)."""
    percent = shadow_percent(version, policy)
    return percent > 0 and random.random() * 100.0 < percent  # noqa: S311 - sampling only


def primary_text(
    stream: bool, body: bytes | None, chunks: list[bytes] | None, parsed: Any
) -> str | None:
    """The text of the answer the client got: from a buffered body (an SSE one when
    ``stream``), the kept chunks of a stream, or the decoded JSON; None when unreadable."""
    if stream:
        return streamed_text(body if body is not None else b"".join(chunks or ()))
    if parsed is None:
        if body is None:
            return None
        try:
            parsed = _decoder.decode(body)
        except msgspec.DecodeError:
            return None
    return answer_text(parsed)


def may_shadow(other: UpstreamClient, now: float) -> bool:
    """Shadow traffic never goes to a model whose circuit is not closed, and never takes
    a connection unless at least half of that model's pool stays free for live traffic."""
    if other.breaker.state(now) != "closed":
        return False
    pool = other.pool
    return (pool.in_use + 1) * 2 <= pool.max_connections


class Host(Protocol):
    """What the mirror needs from the runtime (read at use: sinks change on reload)."""

    metrics: Metrics
    feedback_log: JsonlSink


class ShadowMirror:
    def __init__(self, runtime: Host) -> None:
        self.rt = runtime
        self.queue: asyncio.Queue[ShadowJob] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self.completed = 0

    def start(self, max_concurrency: int, queue_size: int) -> None:
        self.queue = asyncio.Queue(queue_size)
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._work()) for _ in range(max_concurrency)]

    async def stop(self) -> None:
        for t in self._workers:
            t.cancel()
        for t in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._workers = []

    def offer(
        self,
        state: RouterState,
        *,
        version: str,
        primary: str,
        answer: str | None,
        endpoint: str,
        body: dict[str, Any],
        request_id: str,
        prompt: str,
        prompt_hmac: str | None,
        score: float,
    ) -> bool:
        """Queue the comparison of a sampled request's answer (``answer``, from
        :func:`primary_text`; None: nothing to compare) with the other model's."""
        if answer is None:
            return False
        other = state.large if primary == "small" else state.small[version]
        job = ShadowJob(
            state=state,
            endpoint=endpoint,
            body=body,
            primary=primary,
            version=version,
            other=other,
            primary_answer=answer,
            request_id=request_id,
            prompt=prompt,
            prompt_hmac=prompt_hmac,
            score=score,
        )
        return self.submit(job)

    def submit(self, job: ShadowJob) -> bool:
        if self.queue is None:
            return False
        try:
            self.queue.put_nowait(job)
            return True
        except asyncio.QueueFull:
            route = job.state.policy.route
            m = self.rt.metrics
            m.child(m.shadow, route, job.version, "dropped").inc()
            return False

    async def _work(self) -> None:
        assert self.queue is not None
        while True:
            job = await self.queue.get()
            try:
                await self.run(job)
            except Exception:  # a shadow failure is recorded, never raised
                log.exception("shadow job failed")
            finally:
                self.completed += 1
                self.queue.task_done()

    async def run(self, job: ShadowJob) -> None:
        policy = job.state.policy
        m = self.rt.metrics
        if not may_shadow(job.other, time.monotonic()):
            m.child(m.shadow, policy.route, job.version, "skipped").inc()
            return
        body = dict(job.body)
        body["model"] = job.other.model
        body["stream"] = False
        body.pop("stream_options", None)
        try:
            resp = await job.other.post(job.endpoint, msgspec.json.encode(body))
            data = await resp.read()
        except UpstreamError:
            m.child(m.shadow, policy.route, job.version, "error").inc()
            return
        if resp.status != 200:
            m.child(m.shadow, policy.route, job.version, "error").inc()
            return
        try:
            other_answer = answer_text(_decoder.decode(data))
        except msgspec.DecodeError:
            m.child(m.shadow, policy.route, job.version, "error").inc()
            return
        similarity = job.state.comparator.similarity(job.primary_answer, other_answer)
        agree = similarity >= policy.shadow.agreement_threshold
        m.child(m.shadow, policy.route, job.version, "agree" if agree else "disagree").inc()
        m.child(m.shadow_similarity, policy.route, job.version).observe(similarity)
        log_prompts = policy.logging.log_prompts
        record = base_record(
            "shadow",
            route=policy.route,
            request_id=job.request_id,
            version=job.version,
            prompt=job.prompt,
            prompt_hmac=job.prompt_hmac,
            log_prompts=log_prompts,
        )
        small, large = (
            (job.primary_answer, other_answer)
            if job.primary == "small"
            else (other_answer, job.primary_answer)
        )
        record.update(
            primary=job.primary,
            score=job.score,
            scorer=job.state.scorer.scorer.name,
            comparator=job.state.comparator.name,
            similarity=similarity,
            agree=agree,
        )
        if log_prompts:
            record.update(small_answer=small, large_answer=large)
        self.rt.feedback_log.write(record)
