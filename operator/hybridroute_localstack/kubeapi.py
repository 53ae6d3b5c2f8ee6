"""Plain HTTPS to the local API server with the admin client certificate: the few
reads and writes the pod runner and the live view need (no client library, no product
code). Only loopback servers (the local control plane)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hybridroute_localstack.probe import tls_context

JsonObject = dict[str, Any]


class KubeApiError(RuntimeError):
    """A non-2xx answer; ``status`` is the HTTP code (0 when the server did not answer)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class KubeApi:
    server: str
    context: ssl.SSLContext
    ca_file: str = ""
    timeout: float = 10.0

    @classmethod
    def from_kubeconfig(cls, path: Path) -> KubeApi:
        """The local stack's kubeconfig: file paths for the CA and the client pair."""
        config = yaml.safe_load(path.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        server = str(cluster["server"]).rstrip("/")
        if not server.startswith("https://127.0.0.1:"):
            raise ValueError(f"the local stack talks only to a loopback API server: {server}")
        context = tls_context(
            Path(cluster["certificate-authority"]),
            Path(user["client-certificate"]),
            Path(user["client-key"]),
        )
        return cls(server, context, str(cluster["certificate-authority"]))

    @property
    def host_port(self) -> tuple[str, int]:
        parsed = urllib.parse.urlsplit(self.server)
        return parsed.hostname or "127.0.0.1", parsed.port or 443

    def request(
        self,
        method: str,
        path: str,
        body: JsonObject | None = None,
        content_type: str = "application/json",
    ) -> JsonObject:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - https to the loopback server only
            self.server + path, data=data, method=method
        )
        if data is not None:
            request.add_header("Content-Type", content_type)
        request.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=self.timeout, context=self.context
            ) as response:
                answer: JsonObject = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise KubeApiError(exc.code, f"{method} {path}: {exc.code} {detail}") from exc
        except (OSError, ValueError) as exc:
            raise KubeApiError(0, f"{method} {path}: {exc}") from exc

    def get(self, path: str) -> JsonObject | None:
        """The object, or None when it does not exist (404)."""
        try:
            return self.request("GET", path)
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise

    def items(self, path: str) -> list[JsonObject]:
        """The items of a list call (``/api/v1/pods``, ...); an unknown type lists nothing."""
        found = self.get(path)
        items: list[JsonObject] = (found or {}).get("items") or []
        return items

    def merge_patch(self, path: str, patch: JsonObject) -> JsonObject:
        return self.request("PATCH", path, patch, "application/merge-patch+json")

    def service_account_token(
        self, namespace: str, account: str, pod: str, pod_uid: str, seconds: int = 86400
    ) -> str:
        """A token of ``account`` bound to the pod (TokenRequest, as the kubelet asks for
        a projected token): it stops working when the pod is deleted."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": seconds,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": pod_uid},
            },
        }
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token"
        answer = self.request("POST", path, body)
        return str(answer["status"]["token"])
