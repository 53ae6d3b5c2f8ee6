"""The ``hybridroute-router`` process serves with its own uvicorn protocol
(hybridroute_router.serving: an answer's head and body in one write): buffered answers on
a keep-alive connection, and a streamed answer whose first piece reaches the client while
the upstream still holds the rest (nothing is kept back until the answer ends)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from router_harness import FakeUpstream, policy_doc, router_process, serving

pytestmark = pytest.mark.integration

BODY = {"model": "hybrid", "messages": [{"role": "user", "content": "Name three colours."}]}


def test_buffered_and_streamed_answers_through_the_router_process(tmp_path: Path) -> None:
    gate = threading.Event()
    up = FakeUpstream("up", answer="red green blue", gate=gate)
    with serving(up) as s:
        path = tmp_path / "policy.json"
        doc = policy_doc(s.url, {"v1": s.url}, confidence={"enabled": False})
        path.write_text(json.dumps(doc))
        with router_process(path) as r, httpx.Client(base_url=r.url, timeout=10) as client:
            for _ in range(5):  # one keep-alive connection, five answers
                resp = client.post("/v1/chat/completions", json=BODY)
                assert resp.status_code == 200
                assert resp.json()["choices"][0]["message"]["content"] == "red green blue"
            with client.stream(
                "POST", "/v1/chat/completions", json={**BODY, "stream": True}
            ) as stream:
                assert stream.status_code == 200
                lines = stream.iter_lines()
                first = next(line for line in lines if line.startswith("data: "))
                # the upstream waits for the gate after its first piece: this piece came
                # through the router while the answer was still open
                assert "red" in first
                gate.set()
                rest = [line for line in lines if line.startswith("data: ")]
            assert rest[-1] == "data: [DONE]"
            text = "".join(
                json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                for line in [first, *rest[:-1]]
                if json.loads(line[6:])["choices"]
            )
            assert text.split() == ["red", "green", "blue"]
