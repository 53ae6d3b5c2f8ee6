"""Canary benchmark on the whole local stack (the same real parts as
tests/integration/test_canary.py: control plane, dev-only pod runner with replay model
servers and router processes, the real Prometheus scraping every second, the operator).

Measures, with the default steps [5, 10, 25, 50] and ``--interval`` (default 10s):
  - a new student version's pods Ready (its Deployment's readyReplicas) -> the first
    request it serves (target: at most one interval);
  - Ready -> promoted (status.canary.stable is the new version);
  - for a bad student (names a wrong option every time): its first failed analysis ->
    rolled back (by design (failureLimit - 1) intervals), and Ready -> rolled back.

    .venv/bin/python bench/bench_canary.py [--interval 10s] [--rate 30] [--runs 1]

Needs root (the pod runner's private mount namespaces), like ``hybridroute-local run``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))  # the stack the tests use

from canary_stack import CanaryStack, canary_stack, route_manifest, student  # noqa: E402
from hybridroute_localstack import ControlPlane  # noqa: E402
from hybridroute_operator.api.spec import duration_seconds  # noqa: E402


def ready_at(stack: CanaryStack, name: str) -> float:
    """Poll the Deployment until it has a ready replica; the time it was seen."""
    while True:
        raw = stack.kubectl("get", "deployment", name, "-o", "json", check=False)
        if raw.returncode == 0 and (json.loads(raw.stdout).get("status") or {}).get(
            "readyReplicas"
        ):
            return time.time()
        time.sleep(0.05)


def served(stack: CanaryStack, pod_prefix: str) -> int:
    """Requests the replay server of the student's pod answered so far."""
    for pod in stack.runner.running().values():
        if pod.plan.name.startswith(pod_prefix) and pod.plan.kind == "replay":
            url = f"http://{pod.address}:{pod.plan.metrics_port()}/replay/stats"
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    return int(json.loads(response.read())["requests"])
            except OSError:
                return 0
    return 0


def until(check: Any, timeout: float, step: float = 0.05) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return time.time()
        time.sleep(step)
    raise TimeoutError("benchmark step timed out")


def one_run(stack: CanaryStack, interval: str, rate: float) -> dict[str, float]:
    route = f"bench-{uuid.uuid4().hex[:4]}"
    try:
        return measure(stack, route, interval, rate)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; status.canary: {stack.canary(route)}") from None


def measure(stack: CanaryStack, route: str, interval: str, rate: float) -> dict[str, float]:
    canary = {"interval": interval, "minRequests": 20, "analysisShadowPercent": 50}
    canary["checks"] = {"shadowAgreement": {"min": 0.5, "minComparisons": 10}}
    stack.apply(route_manifest(route, canary))
    until(lambda: stack.canary(route).get("phase") == "Idle", 120, 0.2)
    stack.serve(route, rate=rate)
    limit = duration_seconds(interval) * 20

    stack.apply(student(route, "v2", "good"))
    ready = ready_at(stack, f"{route}-student-v2")
    first = until(lambda: served(stack, f"{route}-student-v2") > 0, limit)
    promoted = until(lambda: stack.canary(route).get("stable") == "v2", limit, 0.2)

    stack.apply(student(route, "v3", "disagree"))
    bad_ready = ready_at(stack, f"{route}-student-v3")
    failed = until(
        lambda: (
            (c := stack.canary(route)).get("candidate") == "v3" and c.get("failedChecks", 0) >= 1
        ),
        limit,
        0.1,
    )
    rolled = until(lambda: stack.canary(route).get("phase") == "RolledBack", limit, 0.1)
    return {
        "ready_to_first_request_s": first - ready,
        "ready_to_promoted_s": promoted - ready,
        "first_failure_to_rollback_s": rolled - failed,
        "bad_ready_to_rollback_s": rolled - bad_ready,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", default="10s")
    parser.add_argument("--rate", type=float, default=30.0, help="requests per second")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-canary-") as tmp:
        plane = ControlPlane(Path(tmp) / "plane")
        plane.start()
        plane.start_workloads()
        try:
            stacks = canary_stack(plane, f"bench-{uuid.uuid4().hex[:6]}", Path(tmp) / "stack")
            stack = next(stacks)
            try:
                runs = [one_run(stack, args.interval, args.rate) for _ in range(args.runs)]
            finally:
                stacks.close()  # the stack's teardown
        finally:
            plane.stop()
    summary = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(
        json.dumps(
            {
                "interval": args.interval,
                "steps": [5, 10, 25, 50],
                "rate_rps": args.rate,
                "runs": runs,
                "median": summary,
                "machine": f"{platform.machine()}, {platform.python_version()}",
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
