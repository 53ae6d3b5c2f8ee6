"""The one module that talks to the Kubernetes API (async HTTP with aiohttp).

Server-side apply with the operator's field manager, reads, lists and status patches.
Credentials come from a kubeconfig or, inside a Pod, from the mounted ServiceAccount."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from hybridroute_operator.api.constants import FIELD_MANAGER
from hybridroute_operator.api.kinds import HYBRIDROUTE, Kind, kind_of

JSON = dict[str, Any]
TOKEN_REREAD_SECONDS = 60.0
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


class KubeError(RuntimeError):
    """An API call failed; ``reason`` is the API's bounded reason (NotFound, Conflict...)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ClusterAccess:
    server: str
    verify: str | bool
    cert: tuple[str, str] | None = None
    token: str | None = None
    token_file: str | None = None


def load_access(kubeconfig: Path | None) -> ClusterAccess:
    """Read a kubeconfig (explicit, $KUBECONFIG or ~/.kube/config) or the in-cluster account."""
    from kubernetes import client, config  # only for parsing kubeconfig files

    cfg = client.Configuration()
    token_file = None
    if kubeconfig is not None:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=cfg
        )
    else:
        try:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105
        except config.ConfigException:
            config.load_kube_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    auth = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
    token = auth.removeprefix("Bearer ").strip() if auth else None
    cert = (cfg.cert_file, cfg.key_file) if cfg.cert_file and cfg.key_file else None
    verify: str | bool = cfg.ssl_ca_cert or bool(cfg.verify_ssl)
    return ClusterAccess(
        server=cfg.host, verify=verify, cert=cert, token=token, token_file=token_file
    )


def ssl_context(access: ClusterAccess) -> ssl.SSLContext | bool:
    """False disables verification (kubeconfig ``insecure-skip-tls-verify``)."""
    if access.verify is False:
        return False
    cafile = access.verify if isinstance(access.verify, str) else None
    context = ssl.create_default_context(cafile=cafile)
    if access.cert is not None:
        context.load_cert_chain(*access.cert)
    return context


class KubeApi:
    """Async client for the handful of calls the operator makes."""

    def __init__(
        self, access: ClusterAccess, *, timeout: float = 15.0, max_connections: int = 32
    ) -> None:
        self._access = access
        self._server = access.server.rstrip("/")
        self._token = access.token
        self._token_read = time.monotonic()
        self._ssl = ssl_context(access)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        """aiohttp (as kopf): its pool stays cheap with hundreds of requests in flight."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _headers(
        self, content_type: str | None = None, accept: str | None = None
    ) -> dict[str, str]:
        if self._access.token_file and time.monotonic() - self._token_read > TOKEN_REREAD_SECONDS:
            self._token = Path(self._access.token_file).read_text(encoding="utf-8").strip()
            self._token_read = time.monotonic()
        headers = {"Accept": accept or "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: JSON | None = None,
        content_type: str | None = None,
        accept: str | None = None,
    ) -> JSON | None:
        async with self._client().request(
            method,
            self._server + path,
            params=params,
            headers=self._headers(content_type, accept),
            data=json.dumps(body).encode() if body is not None else None,
        ) as response:
            if response.status == 404:
                return None
            text = await response.text()
            if response.status >= 400:
                try:
                    problem = json.loads(text)
                except ValueError:
                    problem = {"reason": response.reason or "", "message": text[:500]}
                raise KubeError(
                    response.status,
                    str(problem.get("reason", "")),
                    str(problem.get("message", "")),
                )
            result: JSON = json.loads(text)
            return result

    async def apply(self, manifest: JSON, *, field_manager: str = FIELD_MANAGER) -> JSON:
        """Server-side apply: the operator owns exactly the fields it renders."""
        kind = kind_of(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        result = await self._call(
            "PATCH",
            kind.item(meta["namespace"], meta["name"]),
            params={"fieldManager": field_manager, "force": "true"},
            body=manifest,
            content_type="application/apply-patch+yaml",
        )
        if result is None:
            raise KubeError(404, "NotFound", f"{kind.plural} API not served")
        return result

    async def get(self, kind: Kind, namespace: str, name: str) -> JSON | None:
        return await self._call("GET", kind.item(namespace, name))

    async def get_path(self, path: str) -> JSON | None:
        """GET any API path (e.g. a cluster-scoped object); None when not found."""
        return await self._call("GET", path)

    async def list(
        self, kind: Kind, namespace: str, *, label_selector: str = "", metadata_only: bool = False
    ) -> list[JSON]:
        """Items of a kind in a namespace; ``metadata_only`` asks the server for
        PartialObjectMetadata (names, labels, owners: far less to send and parse)."""
        params = {"labelSelector": label_selector} if label_selector else None
        accept = METADATA_LIST if metadata_only else None
        result = await self._call("GET", kind.collection(namespace), params=params, accept=accept)
        return list((result or {}).get("items") or [])

    async def delete(
        self, kind: Kind, namespace: str, name: str, *, uid: str | None = None
    ) -> None:
        body = {"preconditions": {"uid": uid}} if uid else None
        try:
            await self._call(
                "DELETE", kind.item(namespace, name), body=body, content_type="application/json"
            )
        except KubeError as exc:
            if exc.status != 409:  # precondition failed: someone else's object by now
                raise

    async def patch_status(self, namespace: str, name: str, status: JSON) -> JSON | None:
        """Merge-patch the HybridRoute's status subresource (other keys are kept)."""
        return await self._call(
            "PATCH",
            HYBRIDROUTE.item(namespace, name) + "/status",
            body={"status": status},
            content_type="application/merge-patch+json",
        )

    async def create(self, manifest: JSON) -> JSON | None:
        """POST a new object (Events: each one is new)."""
        kind = kind_of(manifest["apiVersion"], manifest["kind"])
        return await self._call(
            "POST",
            kind.collection(manifest["metadata"]["namespace"]),
            body=manifest,
            content_type="application/json",
        )

    async def serves(self, api_version: str) -> bool:
        """True when the API server serves this group/version (e.g. monitoring.coreos.com/v1)."""
        try:
            return await self._call("GET", f"/apis/{api_version}") is not None
        except KubeError:
            return False
