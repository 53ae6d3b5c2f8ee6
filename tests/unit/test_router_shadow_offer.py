"""Which requests are shadowed, and the answer text a shadow comparison starts from
(pure parts of shadow.py; the mirror itself runs in tests/integration/test_router_shadow.py)."""

from __future__ import annotations

import msgspec
import pytest
from hybridroute_policy import Policy, parse_policy
from hybridroute_router.shadow import primary_text, sampled, shadow_percent

pytestmark = pytest.mark.unit


def policy(percent: float, version_percent: float | None = None) -> Policy:
    version: dict[str, object] = {
        "name": "v1",
        "upstream": {"baseUrl": "http://small:8000/v1", "model": "s"},
    }
    if version_percent is not None:
        version["shadowPercent"] = version_percent
    doc = {
        "route": "r",
        "publicModel": "hybrid",
        "large": {"upstream": {"baseUrl": "http://large:8000/v1", "model": "l"}},
        "small": {"versions": [version]},
        "shadow": {"percent": percent},
    }
    return parse_policy(msgspec.json.encode(doc).decode())


def test_a_versions_own_share_wins_over_the_policys() -> None:
    p = policy(10.0, version_percent=50.0)
    assert shadow_percent(p.small.versions[0], p) == 50.0
    p = policy(10.0)
    assert shadow_percent(p.small.versions[0], p) == 10.0
    assert shadow_percent(None, p) == 0.0


def test_sampling_at_0_and_100_percent_is_certain() -> None:
    never, always = policy(0.0), policy(100.0)
    v0, v100 = never.small.versions[0], always.small.versions[0]
    assert not any(sampled(v0, never) for _ in range(200))
    assert all(sampled(v100, always) for _ in range(200))
    assert not sampled(None, always)  # no small version


def test_about_the_configured_share_is_sampled() -> None:
    p = policy(30.0)
    v = p.small.versions[0]
    share = sum(sampled(v, p) for _ in range(20_000)) / 20_000
    assert 0.27 < share < 0.33  # 30% +- 10 standard deviations of 0.0032


def test_primary_text_of_json_sse_and_kept_chunks() -> None:
    chat = {"choices": [{"index": 0, "message": {"content": "four"}}]}
    body = msgspec.json.encode(chat)
    assert primary_text(False, body, None, None) == "four"
    assert primary_text(False, None, None, chat) == "four"  # already decoded
    assert primary_text(False, b"not json", None, None) is None
    assert primary_text(False, None, None, None) is None
    events = [{"choices": [{"index": 0, "delta": {"content": w}}]} for w in ("fo", "ur")]
    stream = b"".join(b"data: " + msgspec.json.encode(e) + b"\n\n" for e in events)
    assert primary_text(True, stream, None, None) == "four"  # a replayed SSE body
    chunks = [stream[:17], stream[17:]]
    assert primary_text(True, None, chunks, None) == "four"  # a passed-through stream
