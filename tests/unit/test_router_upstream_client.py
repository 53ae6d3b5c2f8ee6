"""The upstream client's request bytes: the request line is ASCII whatever the policy's
baseUrl path holds (non-ASCII is percent-encoded, encoded bytes are kept)."""

from __future__ import annotations

import pytest
from hybridroute_policy import Upstream
from hybridroute_router.upstream.breaker import CircuitBreaker
from hybridroute_router.upstream.client import UpstreamClient

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("base_url", "line"),
    [
        ("http://h:8000/v1", b"POST /v1/chat/completions HTTP/1.1"),
        ("http://h/modèles/v1/", b"POST /mod%C3%A8les/v1/chat/completions HTTP/1.1"),
        ("http://h/a%20b/v1", b"POST /a%20b/v1/chat/completions HTTP/1.1"),
    ],
)
async def test_request_line_is_ascii_for_any_base_path(base_url: str, line: bytes) -> None:
    client = UpstreamClient(Upstream(base_url=base_url, model="m"), CircuitBreaker(5, 10))
    try:
        request = client.build("/chat/completions", b"{}")
    finally:
        client.close()
    assert request.split(b"\r\n", 1)[0] == line
