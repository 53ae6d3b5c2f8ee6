"""Load-adaptation benchmark: a load ramp on real parts (the local API server, the
operator and router processes, Debian's Prometheus scraping every second, replay model
servers whose vLLM queue grows with load; the same parts as
tests/integration/test_operator_adaptation.py).

One run per mode, same offered load: ``--low`` req/s for ``--calm`` seconds, then
``--high`` req/s (over the large model's capacity) for ``--hold`` seconds. Prompts of
spread length give heuristic scores over ~0.11-0.24, so each threshold step moves part
of the traffic. Measured, with adaptation:
  - saturation onset (the large model's queue, read from the replay server, first over
    the queueDepth target) -> the first threshold change (the operator's
    hybridroute_operator_effective_threshold); target: at most one interval plus one
    scrape interval;
  - overshoot: the highest threshold minus the settled one (median of the last third);
  - direction changes of the threshold over the last half of the hold (target 0);
and in both modes the large model's p99 over the last half of the hold, from the
router's hybridroute_upstream_duration_seconds (target: the SLO held with adaptation,
violated without).

    .venv/bin/python bench/bench_adaptation.py [--interval 2s] [--high 24] [--hold 90]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))  # the parts the tests use

from adaptation_harness import FilePrometheus, Load  # noqa: E402
from hybridroute_localstack import ControlPlane, eventually  # noqa: E402
from hybridroute_localstack.replay import (  # noqa: E402
    Behaviour,
    ReplayServerProcess,
    start_replay_server,
)
from hybridroute_operator.api.spec import duration_seconds  # noqa: E402
from operator_harness import (  # noqa: E402
    OperatorProcess,
    RouterProcess,
    apply,
    install_crd,
    metric_value,
)

SCRAPE_SECONDS = 1.0
BASELINE, MAXIMUM = 0.1, 0.3


def prompts() -> list[str]:
    """40 prompts, lengths log-spread 10..320 words, shuffled deterministically."""
    return [" ".join(["lorem"] * round(10 * 32 ** ((i * 7 % 40) / 39))) for i in range(40)]


def manifest(
    name: str, large: ReplayServerProcess, small: ReplayServerProcess, args: argparse.Namespace
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "large": {"model": "replay-large", "endpoint": {"url": large.base_url}},
        "small": {
            "model": "replay-small",
            "versions": [{"name": "v1", "endpoint": {"url": small.base_url}}],
        },
        "policy": {"complexity": {"threshold": BASELINE}},
        "router": {"replicas": 1},
    }
    if args.adapt:
        spec["adaptation"] = {
            "interval": args.interval,
            "window": args.window,
            "threshold": {
                "min": BASELINE,
                "max": MAXIMUM,
                "maxStep": args.max_step,
                "cooldown": args.cooldown,
                "hysteresis": 0.5,
            },
            "signals": {
                "queueDepth": {"target": args.queue_target},
                "p99Latency": {"target": args.slo},
            },
        }
    return {
        "apiVersion": "inferensys.io/v1alpha1",
        "kind": "HybridRoute",
        "metadata": {"name": name},
        "spec": spec,
    }


class Sampler:
    """Every 0.1 s: the replay large model's queue and the operator's threshold gauge."""

    def __init__(
        self, large: ReplayServerProcess, operator: OperatorProcess, namespace: str, route: str
    ) -> None:
        self.large, self.operator = large, operator
        self.labels = f'namespace="{namespace}",route="{route}"'
        self.rows: list[tuple[float, int, float | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                waiting = int(self.large.stats()["waiting"])
                text = urllib.request.urlopen(self.operator.metrics_url, timeout=2).read()
                value = metric_value(
                    text.decode(), "hybridroute_operator_effective_threshold", self.labels
                )
            except OSError:
                continue
            self.rows.append((time.time(), waiting, value))


def p99(prometheus: FilePrometheus, route: str, seconds: int) -> float | None:
    return prometheus.value(
        "histogram_quantile(0.99, sum by (le) (rate(hybridroute_upstream_duration_seconds_"
        f'bucket{{route="{route}",model="large",outcome="ok"}}[{seconds}s])))'
    )


def direction_changes(values: list[float]) -> int:
    steps = [b - a for a, b in itertools.pairwise(values) if abs(b - a) > 1e-6]
    return sum(1 for a, b in itertools.pairwise(steps) if (a > 0) != (b > 0))


def one_run(
    plane: ControlPlane,
    namespace: str,
    prometheus: FilePrometheus,
    operator: OperatorProcess,
    workdir: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    large = start_replay_server(
        workdir, Behaviour("large", capacity=args.capacity, ms_per_token=10), name="large"
    )
    small = start_replay_server(workdir, Behaviour("small", capacity=256), name="small")
    route = f"{'adapt' if args.adapt else 'fixed'}-{uuid.uuid4().hex[:4]}"
    apply(plane, namespace, manifest(route, large, small, args))
    router = RouterProcess(plane.kubeconfig, f"{namespace}/{route}-policy", workdir).start()
    prometheus.add_target(router.url.removeprefix("http://"), namespace=namespace)
    prometheus.add_target(large.address)
    eventually(lambda: prometheus.scraping(router.url.removeprefix("http://")), "scraped", 30)
    sampler = Sampler(large, operator, namespace, route).start()
    try:
        load = Load(router.url, rate=args.low, prompts=prompts(), model=route, workers=128)
        load.start()
        time.sleep(args.calm)  # the bench drives a timed ramp; tests never sleep
        load.set_rate(args.high)
        high_at = time.time()
        time.sleep(args.hold)
        tail = int(args.hold / 2)
        large_p99 = p99(prometheus, route, tail)
        load.stop()
    finally:
        sampler.stop()
        router.stop()
        large.stop()
        small.stop()
    return summarize(sampler.rows, high_at, args, large_p99, load.counts)


def summarize(
    rows: list[tuple[float, int, float | None]],
    high_at: float,
    args: argparse.Namespace,
    large_p99: float | None,
    counts: dict[str, int],
) -> dict[str, Any]:
    out: dict[str, Any] = {"adapt": args.adapt, "large_p99_s": large_p99, "answers": counts}
    onset = next((t for t, w, _ in rows if t >= high_at and w > args.queue_target), None)
    out["onset_after_ramp_s"] = None if onset is None else round(onset - high_at, 2)
    if not args.adapt or onset is None:
        return out
    change = next((t for t, _, v in rows if t >= onset and v is not None and v > BASELINE), None)
    out["onset_to_first_change_s"] = None if change is None else round(change - onset, 2)
    held = [v for t, _, v in rows if t >= high_at and v is not None]
    settled = statistics.median(held[-max(1, len(held) // 3) :]) if held else None
    out["settled_threshold"] = settled
    out["overshoot"] = None if settled is None else round(max(held) - settled, 4)
    last_half = [v for t, _, v in rows if t >= high_at + args.hold / 2 and v is not None]
    out["direction_changes_last_half"] = direction_changes(last_half)
    out["target_first_change_s"] = duration_seconds(args.interval) + SCRAPE_SECONDS
    changes, last = [], None
    for t, waiting, v in rows:
        if v is not None and v != last:
            changes.append((round(t - high_at, 1), round(v, 4), waiting))
            last = v
    out["threshold_changes"] = changes  # (seconds after the ramp, threshold, queue)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--interval", default="2s")
    p.add_argument("--window", default="10s")
    p.add_argument("--cooldown", default="20s")
    p.add_argument("--max-step", type=float, default=0.01)
    p.add_argument("--queue-target", type=float, default=4)
    p.add_argument("--slo", type=float, default=1.5, help="large p99 target, seconds")
    p.add_argument("--capacity", type=int, default=4, help="large model's concurrent slots")
    p.add_argument("--low", type=float, default=4, help="req/s before the ramp")
    p.add_argument("--high", type=float, default=24, help="req/s after the ramp")
    p.add_argument("--calm", type=float, default=20)
    p.add_argument("--hold", type=float, default=90)
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--adapt-only", action="store_true", help="skip the run without adaptation")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-adaptation-") as tmp:
        workdir = Path(tmp)
        plane = ControlPlane(workdir / "plane")
        plane.start()
        prometheus = FilePrometheus(workdir / "prometheus").start()
        namespace = "bench"
        plane.kubectl("create", "namespace", namespace)
        install_crd(plane)
        operator = OperatorProcess(
            plane, namespace, workdir, "--prometheus-url", prometheus.url
        ).start()
        try:
            results = []
            for adapt in (True,) if args.adapt_only else (True, False):
                args.adapt = adapt
                results.append(one_run(plane, namespace, prometheus, operator, workdir, args))
                print(json.dumps(results[-1]), flush=True)
        finally:
            operator.stop()
            prometheus.stop()
            plane.stop()
    report = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "args": {k: v for k, v in vars(args).items() if k not in ("adapt", "json", "adapt_only")},
        "runs": results,
    }
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
