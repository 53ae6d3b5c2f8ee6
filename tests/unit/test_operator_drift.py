"""Drift detection and the coalescing queue (pure / in-process)."""

from __future__ import annotations

import ast
import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
from hybridroute_operator.drift import drifted
from hybridroute_operator.queue import Coalescer

pytestmark = pytest.mark.unit
PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "hybridroute_operator"

DESIRED: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "a", "labels": {"x": "1"}},
    "spec": {"ports": [{"name": "http", "port": 80}], "selector": {"app": "a"}},
}


def test_fields_added_by_the_server_are_not_drift() -> None:
    live = copy.deepcopy(DESIRED)
    live["metadata"]["resourceVersion"] = "7"
    live["spec"]["ports"][0]["protocol"] = "TCP"
    live["spec"]["clusterIP"] = "10.0.0.1"
    live["status"] = {"loadBalancer": {}}
    assert not drifted(DESIRED, live)


@pytest.mark.parametrize(
    "edit",
    [
        lambda o: o["spec"]["selector"].update(app="b"),
        lambda o: o["metadata"]["labels"].pop("x"),
        lambda o: o["spec"]["ports"].append({"name": "extra", "port": 81}),
    ],
)
def test_changed_or_removed_owned_fields_are_drift(edit: object) -> None:
    live = copy.deepcopy(DESIRED)
    edit(live)  # type: ignore[operator]
    assert drifted(DESIRED, live)


async def test_triggers_during_a_reconcile_coalesce_into_one_more_pass() -> None:
    calls: list[str] = []
    gate = asyncio.Event()

    async def work(key: str) -> bool:
        calls.append(key)
        if len(calls) == 1:
            await gate.wait()
        return True

    queue: Coalescer[str] = Coalescer(work)
    queue.request("a")
    await asyncio.sleep(0)  # let the first pass start
    for _ in range(5):
        queue.request("a")
    gate.set()
    await queue.close(grace_seconds=5)
    assert calls == ["a", "a"]


async def test_failed_work_is_retried() -> None:
    results = [False, True]
    done = asyncio.Event()

    async def work(key: str) -> bool:
        ok = results.pop(0)
        if ok:
            done.set()
        return ok

    queue: Coalescer[str] = Coalescer(work, retry_seconds=0.01)
    queue.request("a")
    await asyncio.wait_for(done.wait(), timeout=5)
    await queue.close()
    assert results == []


async def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    async def work(key: str) -> bool:
        return True

    queue: Coalescer[str] = Coalescer(work, retry_seconds=2, max_retry_seconds=10)
    assert [queue.retry_delay("a") for _ in range(5)] == [2, 4, 8, 10, 10]
    assert queue.retry_delay("b") == 2
    await queue.close()


async def test_status_refreshes_never_hold_back_urgent_work() -> None:
    release = asyncio.Event()
    done: list[str] = []

    async def work(key: str) -> bool:
        if key.startswith("refresh"):
            await release.wait()
        done.append(key)
        return True

    queue: Coalescer[str] = Coalescer(work, max_parallel=4)  # one background slot
    queue.request("refresh-1", urgent=False)
    queue.request("refresh-2", urgent=False)
    for i in range(3):
        queue.request(f"new-{i}")
    for _ in range(20):
        await asyncio.sleep(0)
    assert sorted(done) == ["new-0", "new-1", "new-2"]
    release.set()
    await queue.close(grace_seconds=5)
    assert sorted(done)[-2:] == ["refresh-1", "refresh-2"]


def test_only_the_kube_module_talks_to_the_kubernetes_api() -> None:
    """HTTP clients and kubernetes are imported by hybridroute_operator.kube alone (and the
    Prometheus client, prom, for its own API); kopf only by the kopf shell (handlers, cli)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            for name in names:
                if name in {"httpx", "aiohttp", "kubernetes"} and rel != "kube.py":
                    if rel == "prom.py" and name == "httpx":
                        continue
                    offenders.append(f"{rel}: {name}")
                if name == "kopf" and rel not in {"handlers.py", "cli.py"}:
                    offenders.append(f"{rel}: {name}")
    assert offenders == []
