"""The running operator's parts (API client, reconciler, work queue, metrics server,
periodic resync) and their orderly start and stop."""

from __future__ import annotations

import asyncio
import datetime
import logging
from dataclasses import dataclass
from pathlib import Path
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from hybridroute_operator.api.spec import HybridRouteSpec
from hybridroute_operator.certs import self_signed
from hybridroute_operator.controls import EventNote, LoopOutput
from hybridroute_operator.kube import ClusterAccess, KubeApi, load_access
from hybridroute_operator.loops import ControlLoop, LoopEnv, LoopScheduler
from hybridroute_operator.loops.adaptation import AdaptationLoop
from hybridroute_operator.loops.canary import CanaryLoop
from hybridroute_operator.loops.savings import SavingsLoop
from hybridroute_operator.metrics import OperatorMetrics
from hybridroute_operator.peering import may_work, peering_path
from hybridroute_operator.prom import PrometheusPool
from hybridroute_operator.queue import Coalescer
from hybridroute_operator.reconcile import Reconciler, RouteKey, Trigger, route_ref, utc_now
from hybridroute_operator.render import RouteRef, build_event

log = logging.getLogger("hybridroute.operator")


@dataclass(frozen=True)
class Options:
    kubeconfig: Path | None = None
    resync_seconds: float = 60.0
    retry_seconds: float = 5.0
    max_parallel: int = 16
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped by Prometheus from the Pod IP
    metrics_port: int | None = 8090  # not 8080: the router's default port
    shutdown_grace_seconds: float = 10.0
    status_debounce_seconds: float = 0.5
    peering_lifetime_seconds: int = 60
    webhook_port: int | None = None  # the validating admission webhook, off when None
    webhook_host: str = "127.0.0.1"  # the name or IP the API server calls
    webhook_addr: str = "0.0.0.0"  # noqa: S104 - where the webhook listens
    webhook_dir: Path = Path("/tmp/hybridroute-webhook")  # noqa: S108 - an emptyDir in the Pod
    peering_name: str | None = None  # None: standalone, always working
    identity: str = ""  # this replica's peer id (given to kopf too)
    priority: int = 0
    namespaces: tuple[str, ...] = ()  # empty: cluster-wide (a ClusterKopfPeering)
    prometheus_url: str | None = None  # the default Prometheus of the control loops
    loop_tick_seconds: float = 0.5  # how often due control-loop evaluations are started
    savings_interval_seconds: float = 60.0  # savings of a route without spec.adaptation

    @property
    def peering_poll_seconds(self) -> float:
        """How often a replica re-reads the peering (kopf's keep-alives are per lifetime)."""
        return max(0.5, min(5.0, self.peering_lifetime_seconds / 4))


def control_loops(savings_interval: float = 60.0) -> list[ControlLoop]:
    """The control loops every route may enable (load adaptation, canary, savings)."""
    return [AdaptationLoop(), CanaryLoop(), SavingsLoop(default_interval=savings_interval)]


class Runtime:
    def __init__(self, options: Options, access: ClusterAccess) -> None:
        self.options = options
        self.metrics = OperatorMetrics()
        self.kube = KubeApi(access, max_connections=max(8, options.max_parallel * 4))
        self.reconciler = Reconciler(self.kube, self.metrics)
        self.active = options.peering_name is None
        self.metrics.active.set(int(self.active))
        self.queue: Coalescer[RouteKey] = Coalescer(
            self._work,
            max_parallel=options.max_parallel,
            retry_seconds=options.retry_seconds,
        )
        self.scheduler = LoopScheduler(
            loops=control_loops(options.savings_interval_seconds),
            env=LoopEnv(
                kube=self.kube,
                metrics=self.metrics,
                prometheus=PrometheusPool(observer=self.metrics),
                default_prometheus_url=options.prometheus_url,
            ),
            routes=self._loop_routes,
            deliver=self._loop_output,
            tick_seconds=options.loop_tick_seconds,
        )
        self._resync: asyncio.Task[None] | None = None
        self._peering: asyncio.Task[None] | None = None
        self._loops: asyncio.Task[None] | None = None
        self._posting: set[asyncio.Task[None]] = set()
        self._metrics_server: tuple[WSGIServer, Thread] | None = None

    def start(self) -> None:
        if self.options.metrics_port is not None:
            self._metrics_server = start_http_server(
                self.options.metrics_port, self.options.metrics_host, registry=self.metrics.registry
            )
        loop = asyncio.get_running_loop()
        self._resync = loop.create_task(self._resync_loop())
        self._loops = loop.create_task(self.scheduler.run(lambda: self.active))
        if self.options.peering_name is not None:
            self._peering = loop.create_task(self._peering_loop(self.options.peering_name))

    async def _work(self, key: RouteKey) -> bool:
        """A standby never writes: queued work (retries, debounced refreshes) is dropped;
        the route stays known and is reconciled again when this replica takes over."""
        if not self.active:
            return True
        return await self.reconciler.reconcile(key)

    async def _peering_loop(self, name: str) -> None:
        while True:
            try:
                self.set_active(await self._may_work(name))
            except Exception:  # an API hiccup: keep the last known state, try again
                log.warning("peering check failed", exc_info=True)
            await asyncio.sleep(self.options.peering_poll_seconds)

    async def _may_work(self, name: str) -> bool:
        options = self.options
        now = datetime.datetime.now(datetime.UTC)
        for namespace in options.namespaces or (None,):
            body = await self.kube.get_path(peering_path(name, namespace))
            if not may_work(body, options.identity, options.priority, now):
                return False
        return True

    def set_active(self, active: bool) -> None:
        """Standby -> active: reconcile every known route (kopf also re-lists them).
        Active -> standby: forget the routes (their cached specs go stale meanwhile)."""
        if active == self.active:
            return
        self.active = active
        self.metrics.active.set(int(active))
        log.info("peering: %s", "working" if active else "standby")
        if active:
            for key in list(self.reconciler.routes):
                self.queue.request(key)
        else:
            for body in list(self.reconciler.routes.values()):
                self.reconciler.route_gone(body)

    async def _resync_loop(self) -> None:
        """Every resync period, re-apply every route's children (drift the watches missed,
        e.g. a ServiceMonitor); unchanged objects are no-ops at the API server."""
        while True:
            await asyncio.sleep(self.options.resync_seconds)
            if not self.active:
                self.metrics.standby_resyncs.inc()
                continue
            for key in list(self.reconciler.routes):
                self.reconciler.resync(key)
                self.queue.request(key, urgent=False)

    async def stop(self) -> None:
        for task in (self._resync, self._peering, self._loops):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.scheduler.aclose()
        await asyncio.gather(*self._posting, return_exceptions=True)
        await self.queue.close(self.options.shutdown_grace_seconds)
        await self.kube.aclose()
        if self._metrics_server is not None:
            server, thread = self._metrics_server
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        log.info("operator stopped")

    # -- control loops ----------------------------------------------------------------------
    def _loop_routes(self) -> dict[RouteKey, tuple[RouteRef, HybridRouteSpec, dict[str, Any]]]:
        reconciler = self.reconciler
        return {
            key: (route_ref(body), reconciler.specs[key], reconciler.status_view(key))
            for key, body in reconciler.routes.items()
            if key in reconciler.specs
        }

    def _loop_output(self, key: RouteKey, loop: ControlLoop, output: LoopOutput | None) -> None:
        """A loop decided: record it, post its Events, reconcile (status + policy) unless
        it decided the same as last time (a steady savings reading: no work at all)."""
        if not self.active or key not in self.reconciler.routes:
            return
        changed = self.reconciler.loop_output(key, loop.name, loop.condition_types, output)
        if output is not None and output.events:
            ref = route_ref(self.reconciler.routes[key])
            task = asyncio.get_running_loop().create_task(self._post(ref, output.events))
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)
        if changed:
            self.queue.request(key)

    async def _post(self, ref: RouteRef, events: tuple[EventNote, ...]) -> None:
        for note in events:
            event = build_event(ref, note.type, note.reason, note.message, utc_now())
            try:
                await self.kube.create(event)
            except Exception as exc:  # an Event is best effort: count it, go on
                self.metrics.events_failed.inc()
                log.warning("event not posted", extra={"route": ref.name, "error": str(exc)})

    def trigger(self, trigger: Trigger | None) -> None:
        if trigger is None:
            return
        if trigger.urgent:
            self.queue.request(trigger.key)
        else:
            self.queue.request_later(trigger.key, self.options.status_debounce_seconds)

    def status_changed(self, keys: list[RouteKey]) -> None:
        for key in keys:
            self.queue.request_later(key, self.options.status_debounce_seconds)

    def health(self) -> dict[str, Any]:
        return {"routes": len(self.reconciler.routes), "reconciling": self.queue.busy}


def webhook_certificate(options: Options) -> tuple[Path, Path]:
    """Write a fresh self-signed certificate for the webhook; (cert file, key file)."""
    cert, key = self_signed([options.webhook_host])
    options.webhook_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_file, key_file = options.webhook_dir / "tls.crt", options.webhook_dir / "tls.key"
    cert_file.write_bytes(cert)
    key_file.touch(mode=0o600)
    key_file.write_bytes(key)
    return cert_file, key_file


def cluster_access(options: Options) -> ClusterAccess:
    return load_access(options.kubeconfig)
