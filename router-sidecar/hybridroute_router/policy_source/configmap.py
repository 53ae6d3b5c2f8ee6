"""Follow one ConfigMap's ``policy.yaml`` (and its ``policy-defaults`` marker) through the
Kubernetes API: GET it, then WATCH it from its resourceVersion; reconnect with back-off,
re-list on 410 Gone. A deleted or invalid document leaves the last good policy in force.
At startup, before any policy exists, :func:`fetch_policy_document` waits out what time
may fix."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from hybridroute_policy import DEFAULTS_KEY

from hybridroute_router.policy_source.kube import KubeAccess
from hybridroute_router.policy_source.reloader import PolicyDocument, Reloader

log = logging.getLogger("hybridroute.router.policy")
POLICY_KEY = "policy.yaml"

RETRIED_STATUSES = frozenset({404, 408, 429, 500, 502, 503, 504})
"""Startup answers worth waiting out: the ConfigMap not created yet (a GitOps tool may
apply the Deployment first), an API server starting, overloaded or restarting."""


class StartupFetchError(RuntimeError):
    """The policy ConfigMap could not be read at startup, with the reason to act on."""


def fetch_policy_document(
    access: KubeAccess,
    namespace: str,
    name: str,
    *,
    timeout: float,
    key: str = POLICY_KEY,
    sleep: Callable[[float], None] = time.sleep,
) -> PolicyDocument:
    """The ConfigMap's policy document and defaults marker, read once at startup.
    Unreachable API servers, 404, 429 and 5xx answers are retried with back-off (0.5 s
    doubling to 5 s, each logged) until ``timeout`` seconds have passed; 401, 403 and
    other answers fail at once (permissions do not fix themselves)."""
    source = f"configmap/{namespace}/{name}"
    url = f"{access.server}/api/v1/namespaces/{namespace}/configmaps/{name}"
    deadline = time.monotonic() + timeout
    backoff = 0.5
    while True:
        try:
            resp = httpx.get(url, headers=access.headers(), verify=access.ssl, timeout=10.0)
        except httpx.HTTPError as exc:
            problem = f"the API server did not answer ({type(exc).__name__}: {exc})"
        else:
            if resp.status_code == 200:
                return _policy_document(resp, source, key)
            problem = _describe_status(resp)
            if resp.status_code not in RETRIED_STATUSES:
                raise StartupFetchError(f"{source}: {problem}")
        left = deadline - time.monotonic()
        if left <= 0:
            raise StartupFetchError(f"{source}: {problem}; gave up after {timeout:g}s")
        wait = min(backoff, left)
        log.warning("%s: %s; retrying in %.1fs", source, problem, wait)
        sleep(wait)
        backoff = min(backoff * 2, 5.0)


def _json_object(resp: httpx.Response) -> dict[str, Any] | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _marker(data: dict[str, Any]) -> str | None:
    value = data.get(DEFAULTS_KEY)
    return value if isinstance(value, str) else None


def _policy_document(resp: httpx.Response, source: str, key: str) -> PolicyDocument:
    body = _json_object(resp)
    if body is None:
        raise StartupFetchError(f"{source}: the API server's answer is not a JSON object")
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get(key), str):
        raise StartupFetchError(f"{source} has no {key!r} key")
    return PolicyDocument(data[key], _marker(data))


def _describe_status(resp: httpx.Response) -> str:
    if resp.status_code == 404:
        return "not found (yet)"
    message = str((_json_object(resp) or {}).get("message") or "")
    return f"HTTP {resp.status_code}" + (f": {message[:300]}" if message else "")


class ConfigMapWatcher:
    def __init__(
        self,
        access: KubeAccess,
        namespace: str,
        name: str,
        reloader: Reloader,
        *,
        key: str = POLICY_KEY,
        watch_timeout: int = 300,
    ) -> None:
        self.access = access
        self.namespace = namespace
        self.name = name
        self.key = key
        self.reloader = reloader
        self.watch_timeout = watch_timeout
        self.source = f"configmap/{namespace}/{name}"
        self._task: asyncio.Task[None] | None = None
        self.synced = asyncio.Event()
        self.healthy = False
        """The ConfigMap was read and the watch is following it (the file defers to it)."""

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.access.server,
            verify=self.access.ssl,
            timeout=httpx.Timeout(10.0, read=self.watch_timeout + 30.0),
        )

    async def _apply(self, obj: dict[str, Any]) -> None:
        data = obj.get("data") or {}
        text = data.get(self.key)
        if not isinstance(text, str):
            log.error("%s has no %r key; keeping the current policy", self.source, self.key)
            return
        doc = PolicyDocument(text, _marker(data))
        await self.reloader.offer(doc, source=self.source, kind="configmap")

    async def sync_once(self, client: httpx.AsyncClient) -> str | None:
        """GET the ConfigMap and offer it; returns its resourceVersion (None if absent)."""
        path = f"/api/v1/namespaces/{self.namespace}/configmaps/{self.name}"
        resp = await client.get(path, headers=self.access.headers())
        if resp.status_code == 404:
            log.warning("%s not found; keeping the current policy", self.source)
            self.healthy = False
            return None
        resp.raise_for_status()
        obj = resp.json()
        await self._apply(obj)
        self.synced.set()
        self.healthy = True
        return str(obj["metadata"]["resourceVersion"])

    async def watch(self, client: httpx.AsyncClient, version: str | None) -> None:
        params: dict[str, str | int] = {
            "watch": "true",
            "fieldSelector": f"metadata.name={self.name}",
            "timeoutSeconds": self.watch_timeout,
            "allowWatchBookmarks": "true",
        }
        if version:
            params["resourceVersion"] = version
        path = f"/api/v1/namespaces/{self.namespace}/configmaps"
        async with client.stream("GET", path, params=params, headers=self.access.headers()) as resp:
            resp.raise_for_status()
            async for line in resp.aiter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return  # expired resourceVersion: re-list
                    raise RuntimeError(f"watch error: {obj.get('message')}")
                if kind in ("ADDED", "MODIFIED"):
                    await self._apply(obj)
                    self.synced.set()
                    self.healthy = True  # e.g. created again after a DELETED event
                elif kind == "DELETED":
                    log.warning("%s deleted; keeping the current policy", self.source)
                    self.healthy = False

    async def _run(self) -> None:
        backoff = 0.5
        async with self._client() as client:
            while True:
                try:
                    version = await self.sync_once(client)
                    await self.watch(client, version)
                    backoff = 0.5
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.healthy = False
                    log.warning("%s: %s; retrying in %.1fs", self.source, exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
