"""The router's long-lived services: the current policy snapshot, telemetry sinks, the
retry budget, the shadow mirror and the memory of recent requests."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from dataclasses import dataclass

from hybridroute_router.feedback import RecentRequests
from hybridroute_router.shadow import ShadowMirror
from hybridroute_router.state import RouterState, StateHolder
from hybridroute_router.telemetry.logs import JsonlSink, NullSink
from hybridroute_router.telemetry.metrics import Metrics
from hybridroute_router.telemetry.tracing import Tracing
from hybridroute_router.upstream.budget import RetryBudget

log = logging.getLogger("hybridroute.router")


@dataclass(frozen=True, slots=True)
class Options:
    """Process options from the command line (not part of the policy)."""

    decision_log: str | None = None
    """'-' or None: stdout; 'off': no decision log; else a JSONL path."""
    trust_request_id: bool = False
    """Use the client's x-request-id / x-hybridroute-request-id when it is sane (off by
    default: a client could otherwise reuse another request's id)."""
    feedback_token: bytes | None = None
    """When set, POST /v1/feedback needs ``Authorization: Bearer <token>``."""
    admin_port: int | None = None
    """When set, /metrics, /healthz and /readyz are served only on this port."""
    hash_key: bytes | None = None
    """The operator's secret (``--hash-key-file``): keys the sticky version hash, shared
    by replicas so a retry is sticky on any of them. None: a per-process random key."""


class Runtime:
    def __init__(
        self,
        state: RouterState,
        *,
        options: Options | None = None,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.options = options or Options()
        self.sticky_key = hashlib.blake2b(
            self.options.hash_key or os.urandom(32), digest_size=32, person=b"sticky"
        ).digest()
        """Keys the sticky-version hash: clients cannot choose a version by their id."""
        self.holder = StateHolder(state)
        self.metrics = metrics or Metrics()
        self.tracing = tracing or Tracing()
        self.budget = RetryBudget(state.policy.retries.budget_percent)
        self.shadow = ShadowMirror(self)
        self.recent = RecentRequests()
        self.in_flight = 0
        self.decision_log: JsonlSink = self._decision_sink(state)
        self.feedback_log: JsonlSink = self._feedback_sink(state)
        self._scorer_info: tuple[str, str, str, str] | None = None
        self._publish(state)

    def _decision_sink(self, state: RouterState) -> JsonlSink:
        opt = self.options.decision_log
        if opt == "off":
            return NullSink()
        dropped = self.metrics.log_dropped.labels("decision")
        if opt not in (None, "-"):
            return JsonlSink(opt, dropped=dropped)
        return JsonlSink(state.policy.logging.decision_log, dropped=dropped)

    def _feedback_sink(self, state: RouterState) -> JsonlSink:
        path = state.policy.logging.feedback_log
        dropped = self.metrics.log_dropped.labels("feedback")
        return JsonlSink(path, dropped=dropped) if path else NullSink()

    @property
    def state(self) -> RouterState:
        return self.holder.state

    def _publish(self, state: RouterState) -> None:
        m = self.metrics
        route = state.policy.route
        m.threshold.labels(route).set(state.policy.complexity.threshold)
        m.in_flight.labels(route).set_function(lambda: float(self.in_flight))
        fb = state.scorer.fallback_reason
        m.scorer_fallback.labels(route, state.scorer.requested).set(1 if fb else 0)
        loaded = state.scorer
        info = (
            route,
            loaded.scorer.name,
            loaded.artifact_sha256 or "",
            loaded.examples_sha256 or "",
        )
        old = self._scorer_info
        if old is not None and old != info:
            m.scorer_info.remove(*old)  # one series: the scorer in use
        m.scorer_info.labels(*info).set(1)
        self._scorer_info = info

    async def start(self) -> None:
        p = self.state.policy
        self.decision_log.start()
        self.feedback_log.start()
        self.shadow.start(p.shadow.max_concurrency, p.shadow.queue_size)

    async def stop(self) -> None:
        await self.shadow.stop()
        await self.decision_log.aclose()
        await self.feedback_log.aclose()
        for c in self.state.clients():
            c.close(abort=True)
        await asyncio.sleep(0)  # let the transports' close callbacks run

    async def apply(self, new: RouterState) -> None:
        """Put a new snapshot in force (sinks reopened when their paths changed; the old
        ones closed last: closing waits a little for a slow reader)."""
        old = self.holder.state
        self.holder.swap(new)
        self.budget.percent = new.policy.retries.budget_percent
        retired: list[JsonlSink] = []
        if (
            self.options.decision_log in (None, "-")
            and old.policy.logging.decision_log != new.policy.logging.decision_log
        ):
            retired.append(self.decision_log)
            self.decision_log = self._decision_sink(new)
            self.decision_log.start()
        if old.policy.logging.feedback_log != new.policy.logging.feedback_log:
            retired.append(self.feedback_log)
            self.feedback_log = self._feedback_sink(new)
            self.feedback_log.start()
        if old.policy.route != new.policy.route:
            self.metrics.threshold.remove(old.policy.route)
            self.metrics.in_flight.remove(old.policy.route)
        self._publish(new)
        if (old.policy.shadow.max_concurrency, old.policy.shadow.queue_size) != (
            new.policy.shadow.max_concurrency,
            new.policy.shadow.queue_size,
        ):
            await self.shadow.stop()
            self.shadow.start(new.policy.shadow.max_concurrency, new.policy.shadow.queue_size)
        for sink in retired:
            await sink.aclose()

    @staticmethod
    def now() -> float:
        return time.monotonic()
