"""Readiness probes over HTTP(S) on loopback, and free ports picked at run time."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tls_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """Verify servers against ``ca``; present ``cert``/``key`` as client certificate."""
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    return context


def http_get(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> str:
    """The body of a GET; raises ``OSError`` (``URLError`` included) on any failure."""
    if not url.startswith(("http://127.", "https://127.")):  # 127.0.0.0/8: loopback
        raise ValueError(f"probes only talk to loopback, not {url}")
    with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # noqa: S310
        body: bytes = response.read()
        return body.decode(errors="replace")


def answers(url: str, context: ssl.SSLContext | None = None, expect: str | None = None) -> bool:
    """True when ``url`` answers 2xx (and its body contains ``expect`` if given)."""
    try:
        body = http_get(url, context)
    except (OSError, ValueError):
        return False
    return expect is None or expect in body
