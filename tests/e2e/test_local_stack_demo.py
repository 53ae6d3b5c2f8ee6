"""The headless demo, as a user runs it: ``hybridroute-local run --traffic --duration
--summary-json`` (what ``bash .ci/up`` runs after set-up). While it serves, the test
edits the route's policy with kubectl and reads every router process and the real
Prometheus; afterwards the JSON summary and what is left running."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hybridroute_localstack import eventually
from hybridroute_localstack.controlplane import kubectl_binary
from hybridroute_localstack.podplan import ADDRESS_ANNOTATION
from hybridroute_localstack.replaybook import default_data_dir

pytestmark = pytest.mark.e2e

TRAFFIC = 20
DURATION = 60
NEW_THRESHOLD = 0.45
LOCAL = Path(sys.executable).parent / "hybridroute-local"


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    log: Path
    state_dir: Path
    summary: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def value(self, name: str) -> str | None:
        found = re.search(rf"^(?:export )?{name}=(\S+)$", self.output(), re.MULTILINE)
        return found.group(1) if found else None

    def kubectl(self, *args: str) -> str:
        kubeconfig = self.value("KUBECONFIG")
        assert kubeconfig is not None
        result = subprocess.run(
            [kubectl_binary(), f"--kubeconfig={kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout

    def log_tails(self, lines: int = 60) -> dict[str, str]:
        return {"hybridroute-local run": "\n".join(self.output().splitlines()[-lines:])}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if not default_data_dir().is_dir():
        pytest.skip(f"the shared RouteLLM data is not at {default_data_dir()}")
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("the local pod runner needs root and unshare (a mount namespace per pod)")
    workdir = tmp_path_factory.mktemp("demo")
    log, summary = workdir / "run.log", workdir / "summary.json"
    command = [
        str(LOCAL),
        "--state-dir",
        str(workdir / "state"),
        "run",
        "--traffic",
        str(TRAFFIC),
        "--duration",
        str(DURATION),
        "--summary-json",
        str(summary),
        "--refresh",
        "5",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    running = Demo(process, log, workdir / "state", summary)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


def metric(url: str, name: str) -> float | None:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def promql(prometheus: str, query: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def router_urls(demo: Demo) -> list[str]:
    pods = json.loads(
        demo.kubectl("get", "pods", "-l", "app.kubernetes.io/component=router", "-o", "json")
    )["items"]
    addresses = [(p["metadata"].get("annotations") or {}).get(ADDRESS_ANNOTATION) for p in pods]
    return [f"http://{a}:8080" for a in addresses if a]


def test_headless_demo_serves_routes_and_follows_policy_edits(demo: Demo) -> None:
    prometheus = eventually(
        lambda: demo.value("PROMETHEUS_URL") if demo.process.poll() is None else None,
        "the demo printing its URLs",
        timeout=180,
        interval=0.5,
    )
    assert (demo.value("OPENAI_BASE_URL") or "").startswith("http://127.0.0.1:")
    routers = eventually(lambda: r if len(r := router_urls(demo)) == 2 else None, "2 routers")

    # every router process follows a policy edit within 5 s
    patch = {"spec": {"policy": {"complexity": {"threshold": NEW_THRESHOLD}}}}
    demo.kubectl("patch", "hybridroute", "support", "--type=merge", "-p", json.dumps(patch))
    eventually(
        lambda: all(metric(u, "hybridroute_policy_threshold") == NEW_THRESHOLD for u in routers),
        f"every router process using threshold {NEW_THRESHOLD}",
        timeout=5,
        interval=0.1,
    )

    # the real Prometheus scrapes the operator, every router and every model server
    up = eventually(
        lambda: r if len(r := promql(prometheus, "up == 1")) >= 6 else None,
        "operator, 2 routers and 3 model servers scraped",
        timeout=30,
    )
    assert {s["metric"].get("kind") for s in up} >= {"hybridroute-router", "replay"}
    assert (
        promql(prometheus, 'count(vllm:num_requests_running{model_name!=""})')[0]["value"][1] == "3"
    )

    def served() -> float:
        found = promql(prometheus, "sum(hybridroute_requests_total)")
        return float(found[0]["value"][1]) if found else 0.0

    eventually(lambda: served() > 100, "over 100 requests counted by the routers", timeout=60)
    assert promql(prometheus, 'sum(hybridroute_requests_total{code!~"2.."}) > 0') == []

    assert demo.process.wait(timeout=DURATION + 120) == 0
    summary = json.loads(demo.summary.read_text())
    accuracy = summary["accuracy"]
    assert summary["errors"] == 0, summary["errors_by_status"]
    assert summary["requests"] >= TRAFFIC * DURATION * 0.5  # the load generator shares the box
    assert accuracy["all_small"] < accuracy["delivered"] < accuracy["all_large"]
    assert summary["cost_usd"]["saved"] > 0
    assert summary["route"]["effective_threshold"] == f"{NEW_THRESHOLD:.3f}"


def test_nothing_is_left_running(demo: Demo) -> None:
    if demo.process.poll() is None:
        demo.process.wait(timeout=DURATION + 120)
    pods = [int(pid) for pid in re.findall(r"runs as pid (\d+)", demo.output())]
    assert len(pods) >= 5
    left = [f"{pid}: pod process" for pid in pods if Path(f"/proc/{pid}").exists()]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(demo.state_dir) in cmdline:
            left.append(f"{entry.name}: {cmdline[:120]}")
    assert left == []
    assert not (demo.state_dir / "state.json").exists()


def test_running_again_works_and_ctrl_c_tears_it_down(demo: Demo) -> None:
    if demo.process.poll() is None:
        demo.process.wait(timeout=DURATION + 120)
    log = demo.log.with_name("again.log")
    command = [str(LOCAL), "--state-dir", str(demo.state_dir), "run", "--plain"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        eventually(
            lambda: "OPENAI_BASE_URL=" in log.read_text() or process.poll() is not None,
            "the second run serving",
            timeout=180,
            interval=0.5,
        )
        assert process.poll() is None, log.read_text()[-3000:]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert "first query answered through the route" in text
    pods = [int(pid) for pid in re.findall(r"runs as pid (\d+)", text)]
    assert len(pods) == 5
    assert [pid for pid in pods if Path(f"/proc/{pid}").exists()] == []
    assert "==> stopped: pod processes, operator, prometheus, control plane" in text
