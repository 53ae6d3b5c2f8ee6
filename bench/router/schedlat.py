"""Who keeps the one-connection chain waiting: wake-up delays of wrk, the fake upstream
and the router, and what ran on their core meanwhile, from the kernel's scheduler events.

Starts the fake upstream (core 0) and the router (core 1) as run.py does, drives them with
wrk at one connection (core 0), and records ``perf sched`` on all cores for the middle
``--record`` seconds of each run. For each of the three processes: how often it ran, its
scheduling delay (woken or preempted, until it ran) at p50/p99/max, how many waits were
longer than 0.2 and 1 ms, and which other tasks ran on its core while it waited longer
than 0.2 ms. Needs ``perf`` (linux-perf) and root.

    .venv/bin/python bench/router/schedlat.py --nice -10 --runs 2
    .venv/bin/python bench/router/schedlat.py --nice -10 --runs 2 --fifo 10   # all three RT
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import procs
from wrkstats import parse_wrk_output

HERE = Path(__file__).resolve().parent
WRK_CPU, SUT_CPU = 0, 1


@dataclass(frozen=True)
class Slice:
    """One line of ``perf sched timehist``: a task ran until ``end`` (s) for ``run_ms``
    after waiting ``delay_ms`` for its core."""

    end: float
    cpu: str
    task: str
    delay_ms: float
    run_ms: float

    @property
    def wait_span(self) -> tuple[float, float]:
        start_run = self.end - self.run_ms / 1000
        return start_run - self.delay_ms / 1000, start_run


def parse_timehist(text: str) -> list[Slice]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 6 or not parts[1].startswith("["):
            continue
        try:
            end, delay, run = float(parts[0]), float(parts[-2]), float(parts[-1])
        except ValueError:
            continue
        out.append(Slice(end, parts[1], parts[2], delay, run))
    return out


def report(slices: list[Slice], task: str, label: str) -> str:
    mine = [s for s in slices if s.task == task]
    if not mine:
        return f"{label}: no scheduler events"
    delays = sorted(s.delay_ms for s in mine)
    n = len(delays)
    blame: dict[str, float] = collections.defaultdict(float)
    for s in mine:
        if s.delay_ms <= 0.2:
            continue
        start, end = s.wait_span
        for o in slices:
            if o.cpu != s.cpu or o is s:
                continue
            o_start, o_end = o.end - o.run_ms / 1000, o.end
            overlap = min(o_end, end) - max(o_start, start)
            if overlap > 0:
                blame[o.task.rsplit("[", 1)[0]] += overlap * 1000
    worst = sorted(blame.items(), key=lambda kv: -kv[1])[:6]
    top = ", ".join(f"{name} {ms:.1f} ms" for name, ms in worst) or "-"
    return (
        f"{label}: {n} runs; delay p50 {delays[n // 2]:.3f} ms, p99 {delays[int(n * 0.99)]:.3f}"
        f" ms, max {delays[-1]:.3f} ms; waits > 0.2 ms: {sum(d > 0.2 for d in delays)}, > 1 ms:"
        f" {sum(d > 1 for d in delays)}; on its core meanwhile: {top}"
    )


def run_once(args: argparse.Namespace, router: procs.Server, url: str, up: procs.Server) -> None:
    work: Path = args.workdir
    data = work / "sched.data"
    cmd = ["wrk", "-t1", "-c1", f"-d{args.duration}s", "--timeout", "10s", "-s",
           str(HERE / "chat.lua"), url]  # fmt: skip
    env = {**os.environ}
    if args.fifo:
        procs.set_fifo(router.pid, args.fifo)
        procs.set_fifo(up.pid, args.fifo)
    wrk = subprocess.Popen(
        procs.pinned(WRK_CPU, args.nice, cmd, args.fifo), stdout=subprocess.PIPE, text=True,
        env=env, start_new_session=True,
    )  # fmt: skip
    procs.set_autogroup_nice(wrk.pid, args.nice)
    time.sleep((args.duration - args.record) / 2)  # record the middle of the run
    subprocess.run(["perf", "sched", "record", "-o", str(data), "--", "sleep", str(args.record)],
                   capture_output=True, check=True)  # fmt: skip
    out, _ = wrk.communicate(timeout=args.duration + 60)
    if args.fifo:
        procs.set_fifo(router.pid, 0)
        procs.set_fifo(up.pid, 0)
    r = parse_wrk_output(out)
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"wrk: {r.requests_per_second:,.0f} req/s, p50 {r.p50_us / 1000:.2f} ms, p99 "
          f"{r.p99_us / 1000:.2f} ms (load {load})")  # fmt: skip
    hist = subprocess.run(["perf", "sched", "timehist", "-i", str(data)], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    slices = parse_timehist(hist)
    wrk_tasks = {s.task for s in slices if s.task.startswith("wrk[")}
    print("  " + report(slices, f"hybridroute-rou[{router.pid}]", "router"))
    print("  " + report(slices, f"python[{up.pid}]", "upstream"))
    for task in sorted(wrk_tasks):
        print("  " + report(slices, task, task))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--duration", type=int, default=8, help="seconds of wrk per run")
    p.add_argument("--record", type=int, default=3, help="seconds of perf sched per run")
    p.add_argument("--nice", type=int, default=0)
    p.add_argument("--fifo", type=int, default=0, help="wrk, upstream, router at SCHED_FIFO")
    p.add_argument("--workdir", type=Path)
    args = p.parse_args()
    args.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hybridroute-schedlat-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ}
    up_port, router_port = procs.free_port(), procs.free_port()
    up = procs.start("upstream", [sys.executable, str(HERE / "fake_upstream.py"), "--port",
                     str(up_port)], WRK_CPU, args.workdir / "up.log", env, args.nice)  # fmt: skip
    policy = args.workdir / "policy.yaml"
    policy.write_text((HERE / "policy.yaml").read_text().replace("${UPSTREAM_PORT}", str(up_port)))
    cmd = [str(Path(sys.executable).parent / "hybridroute-router"), "--policy", str(policy),
           "--host", "127.0.0.1", "--port", str(router_port)]  # fmt: skip
    router = procs.start("router", cmd, SUT_CPU, args.workdir / "router.log", env, args.nice)
    url = f"http://127.0.0.1:{router_port}"
    try:
        procs.wait_http_ok(up, f"http://127.0.0.1:{up_port}/healthz", 30)
        procs.wait_http_ok(router, f"{url}/readyz", 60)
        for _ in range(args.runs):
            run_once(args, router, url, up)
    finally:
        router.stop()
        up.stop()


if __name__ == "__main__":
    main()
