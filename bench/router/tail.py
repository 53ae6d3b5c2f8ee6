"""Where the router's tail latency at one connection comes from.

Side by side, alternating, on the same cores and at the same nice level as run.py:

- ``floor``: the fake upstream alone, pinned to the SUT core (core 1), wrk on core 0: what
  one trivial uvicorn process on that core gets, with no router at all;
- ``router``: the router on core 1 in front of the fake upstream on core 0 (as run.py).

For each run: p50/p99 from chat.lua's own clock, and from ``/proc`` of the process on
core 1 the time it spent runnable but waiting for the CPU (``schedstat`` run delay) and
its involuntary context switches (preemptions), per request. With
``--gc-trace`` the router is started with ``bench/router/gc_trace`` on its PYTHONPATH,
which records every garbage collection's duration (written next to the logs).

    .venv/bin/python bench/router/tail.py --nice -10 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import procs
from wrkstats import parse_wrk_output

HERE = Path(__file__).resolve().parent
WRK_CPU, SUT_CPU = 0, 1


def sched(pid: int) -> tuple[int, int]:
    """(run delay ns, involuntary context switches) summed over the process's threads."""
    delay = preempted = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            delay += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1])
            for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                if line.startswith("nonvoluntary_ctxt_switches"):
                    preempted += int(line.split()[1])
        except OSError:
            continue
    return delay, preempted


def measure(pid: int, url: str, seconds: int, nice: int, env: dict[str, str]) -> dict[str, float]:
    cmd = ["wrk", "-t1", "-c1", f"-d{seconds}s", "--timeout", "10s", "-s",
           str(HERE / "chat.lua"), url]  # fmt: skip
    before = sched(pid)
    done = procs.run_pinned(cmd, WRK_CPU, nice, env, timeout=seconds + 60)
    after = sched(pid)
    r = parse_wrk_output(done.stdout)
    n = max(r.requests, 1)
    return {
        "requests": r.requests,
        "p50_ms": r.p50_us / 1000,
        "p99_ms": r.p99_us / 1000,
        "run_delay_us_per_request": (after[0] - before[0]) / n / 1000,
        "preemptions_per_request": (after[1] - before[1]) / n,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--nice", type=int, default=0)
    p.add_argument("--router-arg", action="append", default=[])
    p.add_argument("--gc-trace", action="store_true")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--out", type=Path, help="write the runs as JSON here")
    args = p.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hybridroute-tail-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ}
    exe = [sys.executable, str(HERE / "fake_upstream.py"), "--port"]
    floor_port, up_port, router_port = procs.free_port(), procs.free_port(), procs.free_port()
    floor = procs.start("floor", [*exe, str(floor_port)], SUT_CPU, work / "floor.log", env,
                        args.nice)  # fmt: skip
    up = procs.start("upstream", [*exe, str(up_port)], WRK_CPU, work / "up.log", env, args.nice)
    policy = work / "policy.yaml"
    policy.write_text((HERE / "policy.yaml").read_text().replace("${UPSTREAM_PORT}", str(up_port)))
    router_env = dict(env)
    if args.gc_trace:
        router_env["PYTHONPATH"] = str(HERE / "gc_trace")
        router_env["HR_GC_TRACE"] = str(work / "gc")
    cmd = [str(Path(sys.executable).parent / "hybridroute-router"), "--policy", str(policy),
           "--host", "127.0.0.1", "--port", str(router_port), *args.router_arg]  # fmt: skip
    router = procs.start("router", cmd, SUT_CPU, work / "router.log", router_env, args.nice)
    servers = {"floor": (floor, floor_port), "router": (router, router_port)}
    runs: list[dict[str, object]] = []
    try:
        procs.wait_http_ok(floor, f"http://127.0.0.1:{floor_port}/healthz", 30)
        procs.wait_http_ok(up, f"http://127.0.0.1:{up_port}/healthz", 30)
        procs.wait_http_ok(router, f"http://127.0.0.1:{router_port}/readyz", 60)
        for rep in range(args.runs):
            for name in ("floor", "router") if rep % 2 == 0 else ("router", "floor"):
                server, port = servers[name]
                other = servers["router" if name == "floor" else "floor"][0]
                other.pause()  # alone on its core, like run.py's arms
                server.resume()
                url = f"http://127.0.0.1:{port}"
                measure(server.pid, url, 2, args.nice, env)  # warm-up
                result = {"arm": name, "rep": rep, **measure(server.pid, url, args.duration,
                                                              args.nice, env)}  # fmt: skip
                runs.append(result)
                print(json.dumps(result), flush=True)
    finally:
        for s in (router, floor, up):
            s.stop()
    if args.out is not None:
        args.out.write_text(json.dumps(runs, indent=1) + "\n")
    if args.gc_trace:
        for path in sorted(work.glob("gc.*.json")):
            print("gc", path.read_text())


if __name__ == "__main__":
    main()
