"""One client per upstream: its connection pool, key, timeouts and circuit breaker."""

from __future__ import annotations

import ssl
from urllib.parse import quote, urlsplit

from hybridroute_policy import Upstream

from hybridroute_router.upstream.breaker import CircuitBreaker
from hybridroute_router.upstream.http1 import Pool, Response
from hybridroute_router.upstream.keys import ApiKey

_USER_AGENT = b"hybridroute-router/0.1"


def ssl_context(verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class UpstreamClient:
    """Calls ``POST {baseUrl}{endpoint}`` on one OpenAI-compatible server."""

    def __init__(self, upstream: Upstream, breaker: CircuitBreaker) -> None:
        self.upstream = upstream
        self.model = upstream.model
        self.breaker = breaker
        parts = urlsplit(upstream.base_url)
        tls = parts.scheme == "https"
        host = parts.hostname or "localhost"
        port = parts.port or (443 if tls else 80)
        # percent-encode what is not ASCII (already-encoded %XX and reserved characters
        # are kept): the request line must be ASCII
        self.base_path = quote(parts.path.rstrip("/"), safe="/%:@!$&'()*+,;=~")
        self.key = ApiKey(upstream.api_key) if upstream.api_key is not None else None
        host_header = parts.netloc.rpartition("@")[2]
        self._static = (
            b"Host: "
            + host_header.encode("idna")
            + b"\r\nUser-Agent: "
            + _USER_AGENT
            + b"\r\nContent-Type: application/json\r\nAccept-Encoding: identity\r\n"
        )
        self.read_timeout = upstream.timeouts.read_seconds
        self.pool = Pool(
            host,
            port,
            ssl_context=ssl_context(upstream.tls_verify) if tls else None,
            max_connections=upstream.max_connections,
            connect_timeout=upstream.timeouts.connect_seconds,
        )

    def build(self, endpoint: str, body: bytes, extra_headers: bytes = b"") -> bytes:
        """The request bytes; ``endpoint`` is relative to /v1, e.g. '/chat/completions'."""
        auth = b""
        if self.key is not None:
            auth = b"Authorization: Bearer " + self.key.get().encode("latin-1") + b"\r\n"
        return b"".join(
            (
                b"POST ",
                (self.base_path + endpoint).encode("ascii"),
                b" HTTP/1.1\r\n",
                self._static,
                auth,
                extra_headers,
                b"Content-Length: ",
                str(len(body)).encode("ascii"),
                b"\r\n\r\n",
                body,
            )
        )

    async def post(self, endpoint: str, body: bytes, extra_headers: bytes = b"") -> Response:
        return await self.pool.request(self.build(endpoint, body, extra_headers), self.read_timeout)

    def close(self, *, abort: bool = False) -> None:
        self.pool.close(abort=abort)
