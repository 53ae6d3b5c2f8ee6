"""Pieces of the whole-stack tests: replay model servers as processes (the local stack's,
with no added latency and the better separated logprobs), the HybridRoute that points at
them, and asking MMLU questions through the router with the openai SDK."""

from __future__ import annotations

import json
import random
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from hybridroute_localstack import ControlPlane
from hybridroute_localstack.replay import Behaviour, ReplayServerProcess, start_replay_server
from hybridroute_localstack.replaybook import ROLES, SEPARATED, Outcome, ReplayBook, Role, grade
from operator_harness import get_json

HEADERS = ("x-hybridroute-model", "x-hybridroute-version", "x-hybridroute-reason")
PRICING: dict[Role, dict[str, float]] = {
    "large": {"inputPer1kTokens": 0.01, "outputPer1kTokens": 0.03},
    "small": {"inputPer1kTokens": 0.0005, "outputPer1kTokens": 0.0015},
}
JOULES_PER_1K: dict[Role, float] = {"large": 2800.0, "small": 300.0}


def cost_at(role: Role, usage: tuple[int, int]) -> float:
    """USD of ``(prompt_tokens, completion_tokens)`` at ``role``'s prices in the route."""
    price = PRICING[role]
    return (usage[0] * price["inputPer1kTokens"] + usage[1] * price["outputPer1kTokens"]) / 1000


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def replay_behaviour(role: Role) -> Behaviour:
    """A replayed model that answers at once, with exactly ``The answer is <letter>.`` (no
    rationale) and the :data:`~hybridroute_localstack.replaybook.SEPARATED` logprobs."""
    return Behaviour(role, ttft_ms=0, ms_per_token=0, rationale_words=0, logprobs=SEPARATED)


def start_replay(role: Role, workdir: Path, port: int | None = None) -> ReplayServerProcess:
    """The replay server of ``role`` on loopback (a free port unless given), answering as
    ``replay-ROLE``."""
    return start_replay_server(workdir, replay_behaviour(role), port=port)


@contextmanager
def replay_servers(workdir: Path) -> Iterator[dict[Role, ReplayServerProcess]]:
    """Both replay servers, stopped on leaving (whichever the dict holds by then: a test
    may replace one it stopped)."""
    started: dict[Role, ReplayServerProcess] = {}
    try:
        for role in ROLES:
            started[role] = start_replay(role, workdir)
        yield started
    finally:
        for server in started.values():
            server.stop()


def served(server: ReplayServerProcess) -> int:
    """The requests ``server`` has answered so far."""
    return int(server.stats()["requests"])


def hybridroute(
    name: str, public_model: str, large_url: str, small_url: str, threshold: float
) -> dict[str, Any]:
    """A HybridRoute whose models are external URLs (the loopback replay servers), routed
    by the shipped learned scorer."""
    return {
        "apiVersion": "inferensys.io/v1alpha1",
        "kind": "HybridRoute",
        "metadata": {"name": name},
        "spec": {
            "large": {
                "model": "replay-large",
                "endpoint": {"url": large_url},
                "pricing": PRICING["large"],
                "energy": {"joulesPer1kTokens": JOULES_PER_1K["large"]},
            },
            "small": {
                "model": "replay-small",
                "versions": [{"name": "v1", "weight": 100, "endpoint": {"url": small_url}}],
                "pricing": PRICING["small"],
                "energy": {"joulesPer1kTokens": JOULES_PER_1K["small"]},
            },
            "policy": {
                "publicModel": public_model,
                "complexity": {"threshold": threshold, "scorer": "learned"},
            },
            "router": {"replicas": 1},
        },
    }


def patch_policy(
    plane: ControlPlane, namespace: str, name: str, policy: dict[str, Any], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``kubectl patch`` of ``spec.policy``, a JSON merge patch (``None`` removes a key)."""
    patch = json.dumps({"spec": {"policy": policy}})
    return plane.kubectl(
        "patch", "hybridroute", name, "-n", namespace, "--type=merge", "-p", patch, check=check
    )


def conditions(plane: ControlPlane, namespace: str, name: str) -> dict[str, str]:
    """``{type: status}`` of the route's conditions, once its status observes the latest
    generation (empty before)."""
    obj = get_json(plane, "hybridroute", name, "-n", namespace)
    if obj is None:
        return {}
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"]["generation"]:
        return {}
    return {c["type"]: c["status"] for c in status.get("conditions") or []}


def sample(book: ReplayBook, n: int, seed: int) -> list[Outcome]:
    """``n`` recorded questions drawn at random (fixed seed) from every subject."""
    return random.Random(seed).sample(book.outcomes(), n)


@dataclass(frozen=True)
class Answer:
    """One question answered through the router."""

    question: Outcome
    text: str
    headers: dict[str, str]
    logprobs: bool = False
    """The answer carried logprobs."""
    usage: tuple[int, int] = (0, 0)
    """(prompt_tokens, completion_tokens) the answer reports."""

    @property
    def cost(self) -> float:
        """USD by the route's prices for the model that answered."""
        return cost_at(self.role, self.usage)

    @property
    def role(self) -> Role:
        """Which model answered, as the router says."""
        return "large" if self.headers["x-hybridroute-version"] == "large" else "small"

    @property
    def quality(self) -> float:
        """The answer graded against the question's key (from the text alone)."""
        return grade(self.question.prompt, self.text)


def ask(client: openai.OpenAI, model: str, question: Outcome) -> Answer:
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": question.prompt}], max_tokens=8
    )
    completion = raw.parse()
    choice, usage = completion.choices[0], completion.usage
    return Answer(
        question,
        choice.message.content or "",
        dict(raw.headers),
        choice.logprobs is not None,
        (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0),
    )


def ask_streaming(client: openai.OpenAI, model: str, question: Outcome) -> tuple[Answer, Any]:
    """The streamed answer, and the usage of the final chunk (None if absent)."""
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": question.prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in raw.parse():
        for choice in chunk.choices:
            text += choice.delta.content or ""
        usage = chunk.usage or usage
    return Answer(question, text, dict(raw.headers)), usage


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of every sample of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        found = _SAMPLE.match(line)
        if found is None or found.group(1) != name:
            continue
        have = dict(_LABEL.findall(found.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(found.group(3))
    return total


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def explain_target(router_url: str, model: str, question: Outcome) -> str:
    """Where the router would send ``question`` (``/v1/route/explain``: no model called)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": question.prompt}]})
    request = urllib.request.Request(
        f"{router_url}/v1/route/explain",
        data=body.encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(json.loads(response.read())["decision"]["target"])
