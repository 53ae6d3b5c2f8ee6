"""The request path leaves no reference cycles behind: every per-request object is
freed by reference counting, so the cyclic collector has nothing of ours to chase
(its pauses are a tail-latency cost on the hot path)."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from router_harness import FakeUpstream, policy_doc, running_router, serving

pytestmark = pytest.mark.integration

BODY = {"model": "hybrid", "messages": [{"role": "user", "content": "What is 2 plus 2?"}]}


@pytest.fixture
def saved_garbage() -> Iterator[list[object]]:
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_requests_leave_no_cyclic_garbage_of_the_router(
    tmp_path: Path, saved_garbage: list[object]
) -> None:
    up = FakeUpstream("up", answer="four")
    with (
        serving(up) as s,
        running_router(policy_doc(s.url, {"v1": s.url}), tmp_path) as r,
        httpx.Client(base_url=r.url) as client,
    ):
        for _ in range(5):  # warm-up: pools, caches, lazily built metric children
            client.post("/v1/chat/completions", json=BODY)
        gc.collect()
        # kept, not cleared: cleared garbage would be found again by the next collection
        start = len(saved_garbage)
        for _ in range(50):
            assert client.post("/v1/chat/completions", json=BODY).status_code == 200
            with client.stream(
                "POST", "/v1/chat/completions", json={**BODY, "stream": True}
            ) as stream:
                stream.read()
        gc.collect()
        ours = Counter(
            type(o).__qualname__
            for o in saved_garbage[start:]
            if type(o).__module__.startswith(("hybridroute_router", "asyncio", "uvicorn"))
        )
    assert ours == Counter()


def test_serving_the_app_leaves_the_embedding_process_gc_alone(tmp_path: Path) -> None:
    frozen = gc.get_freeze_count()
    with (
        serving(FakeUpstream("up")) as s,
        running_router(policy_doc(s.url, {"v1": s.url}), tmp_path) as r,
    ):
        assert httpx.get(f"{r.url}/healthz").status_code == 200
        assert gc.get_freeze_count() == frozen
