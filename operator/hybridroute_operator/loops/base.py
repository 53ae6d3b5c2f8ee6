"""Control loops: periodic evaluations of a route that read the world (Prometheus, the
API) and decide something the policy should carry (load adaptation, canary analysis).

A loop is a small object (``ControlLoop``): how often it runs for a spec, and an async
``evaluate`` that returns a ``LoopOutput``: its ``status`` section, its conditions and
the Events to post. It writes nothing itself. The runtime schedules loops (only on the
active peer), hands each output to the reconciler, which writes the section into status
and renders the policy from spec + status (``controls``): one writer of status, one path
to the policy ConfigMap, and everything a loop needs to resume lives in status.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hybridroute_operator.api.kinds import SECRET
from hybridroute_operator.api.spec import HybridRouteSpec, PrometheusSpec
from hybridroute_operator.controls import ConditionNote, EventNote, LoopOutput
from hybridroute_operator.kube import KubeApi, KubeError
from hybridroute_operator.metrics import OperatorMetrics
from hybridroute_operator.prom import PrometheusClient, PrometheusPool, QueryError
from hybridroute_operator.render import RouteRef

log = logging.getLogger("hybridroute.operator")
RouteKey = tuple[str, str]


@dataclass(frozen=True)
class LoopInput:
    ref: RouteRef
    spec: HybridRouteSpec  # as written (not the effective one)
    status: Mapping[str, Any]  # the latest status, this loop's previous section included
    now: float  # unix seconds


@dataclass
class LoopEnv:
    """What loops may use: the API client, Prometheus clients, metrics, defaults."""

    kube: KubeApi
    metrics: OperatorMetrics
    prometheus: PrometheusPool
    default_prometheus_url: str | None = None


class ControlLoop(Protocol):
    name: str  # also the status key
    condition_types: tuple[str, ...]  # removed from status when the loop is switched off

    def interval_seconds(self, spec: HybridRouteSpec) -> float | None:
        """Seconds between evaluations; None: not enabled for this spec."""
        ...

    async def evaluate(self, inp: LoopInput, env: LoopEnv) -> LoopOutput: ...


class LoopConfigError(Exception):
    """The loop cannot run as configured (no Prometheus URL, a missing Secret...)."""


async def prometheus_for(
    settings: PrometheusSpec | None, namespace: str, env: LoopEnv
) -> PrometheusClient:
    """The client for a route's Prometheus: its own settings, else the operator-wide
    default URL (``--prometheus-url``). The bearer token is read from the Secret each
    time (rotations apply), never logged or written to status."""
    url = settings.url if settings is not None and settings.url else env.default_prometheus_url
    if not url:
        raise LoopConfigError(
            "no Prometheus: set spec.adaptation.prometheus.url (or canary's), or start the "
            "operator with --prometheus-url"
        )
    token = None
    timeout = settings.timeout_seconds if settings is not None else 5.0
    ref = settings.bearer_token_secret_ref if settings is not None else None
    if ref is not None:
        try:
            secret = await env.kube.get(SECRET, namespace, ref.name)
        except KubeError as exc:
            raise LoopConfigError(f"Secret {ref.name!r}: {exc}") from exc
        if secret is None:
            raise LoopConfigError(f"Secret {ref.name!r} (Prometheus bearer token) not found")
        encoded = (secret.get("data") or {}).get(ref.key)
        if encoded is None:
            raise LoopConfigError(f"Secret {ref.name!r} has no key {ref.key!r}")
        token = base64.b64decode(encoded).decode("utf-8", "replace").strip()
    return env.prometheus.get(url, token, timeout)


@dataclass
class LoopScheduler:
    """Runs each enabled loop of each route every interval, never two evaluations of the
    same (route, loop) at once. ``routes()`` gives (ref, spec, status) per route;
    ``deliver`` receives each output (or None when a loop was switched off)."""

    loops: Sequence[ControlLoop]
    env: LoopEnv
    routes: Callable[[], Mapping[RouteKey, tuple[RouteRef, HybridRouteSpec, Mapping[str, Any]]]]
    deliver: Callable[[RouteKey, ControlLoop, LoopOutput | None], None]
    tick_seconds: float = 0.5
    clock: Callable[[], float] = time.time
    _due: dict[tuple[RouteKey, str], float] = field(default_factory=dict, init=False)
    _running: dict[tuple[RouteKey, str], asyncio.Task[None]] = field(
        default_factory=dict, init=False
    )
    _enabled: set[tuple[RouteKey, str]] = field(default_factory=set, init=False)

    def tick(self) -> None:
        """Start every evaluation that is due now (called by ``run`` each tick)."""
        now = self.clock()
        routes = self.routes()
        for key, (ref, spec, status) in routes.items():
            for loop in self.loops:
                slot = (key, loop.name)
                interval = loop.interval_seconds(spec)
                if interval is None:
                    if slot in self._enabled or status.get(loop.name) is not None:
                        self._enabled.discard(slot)
                        self._due.pop(slot, None)
                        self.deliver(key, loop, None)
                    continue
                self._enabled.add(slot)
                if slot in self._running or now < self._due.get(slot, 0.0):
                    continue
                self._due[slot] = now + interval
                inp = LoopInput(ref=ref, spec=spec, status=status, now=now)
                task = asyncio.get_running_loop().create_task(self._evaluate(key, loop, inp))
                self._running[slot] = task
        for slot in [s for s in self._enabled if s[0] not in routes]:
            self._enabled.discard(slot)
            self._due.pop(slot, None)

    def wake(self, key: RouteKey) -> None:
        """Evaluate this route's loops at the next tick (e.g. its spec changed)."""
        for slot in [s for s in self._due if s[0] == key]:
            self._due[slot] = 0.0

    async def _evaluate(self, key: RouteKey, loop: ControlLoop, inp: LoopInput) -> None:
        try:
            output = await loop.evaluate(inp, self.env)
        except Exception:  # a loop bug must not stop the others; it is retried next interval
            log.exception("control loop failed", extra={"route": key[1], "loop": loop.name})
            return
        finally:
            self._running.pop((key, loop.name), None)
        self.deliver(key, loop, output)

    async def run(self, active: Callable[[], bool]) -> None:
        while True:
            if active():
                self.tick()
            await asyncio.sleep(self.tick_seconds)

    async def aclose(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.env.prometheus.aclose()


__all__ = [
    "ConditionNote",
    "ControlLoop",
    "EventNote",
    "LoopConfigError",
    "LoopEnv",
    "LoopInput",
    "LoopOutput",
    "LoopScheduler",
    "QueryError",
    "prometheus_for",
]
