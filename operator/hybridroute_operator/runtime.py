"""The running operator's parts (API client, reconciler, work queue, metrics server,
periodic resync) and their orderly start and stop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from hybridroute_operator.certs import self_signed
from hybridroute_operator.kube import ClusterAccess, KubeApi, load_access
from hybridroute_operator.metrics import OperatorMetrics
from hybridroute_operator.queue import Coalescer
from hybridroute_operator.reconcile import Reconciler, RouteKey, Trigger

log = logging.getLogger("hybridroute.operator")


@dataclass(frozen=True)
class Options:
    kubeconfig: Path | None = None
    resync_seconds: float = 60.0
    retry_seconds: float = 5.0
    max_parallel: int = 16
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped by Prometheus from the Pod IP
    metrics_port: int | None = 8080
    shutdown_grace_seconds: float = 10.0
    status_debounce_seconds: float = 0.5
    peering_lifetime_seconds: int = 60
    webhook_port: int | None = None  # the validating admission webhook, off when None
    webhook_host: str = "127.0.0.1"  # the name or IP the API server calls
    webhook_addr: str = "0.0.0.0"  # noqa: S104 - where the webhook listens
    webhook_dir: Path = Path("/tmp/hybridroute-webhook")  # noqa: S108 - an emptyDir in the Pod


class Runtime:
    def __init__(self, options: Options, access: ClusterAccess) -> None:
        self.options = options
        self.metrics = OperatorMetrics()
        self.kube = KubeApi(access, max_connections=max(8, options.max_parallel * 4))
        self.reconciler = Reconciler(self.kube, self.metrics)
        self.queue: Coalescer[RouteKey] = Coalescer(
            self.reconciler.reconcile,
            max_parallel=options.max_parallel,
            retry_seconds=options.retry_seconds,
        )
        self._resync: asyncio.Task[None] | None = None
        self._metrics_server: tuple[WSGIServer, Thread] | None = None

    def start(self) -> None:
        if self.options.metrics_port is not None:
            self._metrics_server = start_http_server(
                self.options.metrics_port, self.options.metrics_host, registry=self.metrics.registry
            )
        self._resync = asyncio.get_running_loop().create_task(self._resync_loop())

    async def _resync_loop(self) -> None:
        """Every resync period, re-apply every route's children (drift the watches missed,
        e.g. a ServiceMonitor); unchanged objects are no-ops at the API server."""
        while True:
            await asyncio.sleep(self.options.resync_seconds)
            for key in list(self.reconciler.routes):
                self.reconciler.resync(key)
                self.queue.request(key, urgent=False)

    async def stop(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
            await asyncio.gather(self._resync, return_exceptions=True)
        await self.queue.close(self.options.shutdown_grace_seconds)
        await self.kube.aclose()
        if self._metrics_server is not None:
            server, thread = self._metrics_server
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        log.info("operator stopped")

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
