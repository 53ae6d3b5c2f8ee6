"""Router soak: hours-long-style load with upstream faults, in one command.

Two faulty upstreams (large and small: 5% 500s, 1% answers slower than the router's read
timeout, 10% of streams cut after two chunks), the router in front of them, and wrk
sending a mix of plain and streamed chat requests at a share (default 80%) of the
throughput measured first on the same setup. Midway the small upstream is killed
(SIGKILL) and started again. Meanwhile the router's RSS, open file descriptors and
metrics are sampled. See bench/soak/README.md.

    .venv/bin/python bench/soak/run.py --duration 1800 --out bench/soak/results/latest.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MARKER = "SOAK_JSON "
CONNECTIONS = 64


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--duration", type=int, default=1800, help="soak seconds (default 30 min)")
    p.add_argument("--load", type=float, default=0.8, help="share of the measured maximum")
    p.add_argument("--calibrate", type=int, default=10, help="seconds per calibration run")
    p.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--down", type=float, default=15.0, help="seconds the small upstream is down")
    p.add_argument("--warmup", type=float, default=0.2, help="share of the run before RSS/FD")
    p.add_argument("--nice", type=int, default=0, help="nice level of every started process")
    p.add_argument("--workdir", type=Path, help="logs and configs (default: a temp dir)")
    p.add_argument("--out", type=Path, help="write the result JSON here")
    return p.parse_args(argv)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Proc:
    name: str
    cmd: list[str]
    log: Path
    nice: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        prefix = ["nice", "-n", str(self.nice)] if self.nice else []
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*prefix, *self.cmd],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=20)


def wait_ok(proc: Proc, url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.proc is not None
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited:\n{proc.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} did not answer {url} in {timeout:.0f}s")


def policy(large: int, small: int) -> str:
    def upstream(port: int, model: str) -> dict[str, Any]:
        return {
            "baseUrl": f"http://127.0.0.1:{port}/v1",
            "model": model,
            "timeouts": {"connectSeconds": 0.5, "readSeconds": 1.0},
        }

    doc = {
        "route": "soak",
        "publicModel": "soak",
        "large": {"upstream": upstream(large, "soak-large")},
        "small": {"versions": [{"name": "v1", "weight": 100, "upstream": upstream(small, "s")}]},
        "complexity": {"threshold": 0.5, "scorer": "heuristic"},
        "confidence": {"enabled": False},
        "shadow": {"percent": 0},
        "circuitBreaker": {"failureThreshold": 5, "openSeconds": 5},
    }
    return json.dumps(doc)


def wrk(url: str, seconds: float, delay_ms: float, nice: int) -> dict[str, Any]:
    env = {**os.environ, "SOAK_DELAY_MS": f"{delay_ms:.3f}"}
    prefix = ["nice", "-n", str(nice)] if nice else []
    cmd = [
        *prefix,
        "wrk",
        "-t2",
        f"-c{CONNECTIONS}",
        f"-d{int(seconds)}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "soak.lua"),
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 120)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(MARKER)]
    if not lines:
        raise RuntimeError(f"wrk gave no {MARKER.strip()} line:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(lines[-1][len(MARKER) :])
    result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


@dataclass
class Samples:
    t: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    sockets: list[int] = field(default_factory=list)
    """Of the descriptors, the sockets (client and upstream connections)."""
    small_open: list[float] = field(default_factory=list)
    fallbacks: list[float] = field(default_factory=list)


def sample(pid: int, url: str, t0: float, out: Samples) -> None:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
    fds = sockets = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        fds += 1
        try:
            sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:  # closed meanwhile
            continue
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    opened = re.findall(
        r'^hybridroute_upstream_circuit_open\{[^}]*model="small"[^}]*\} (\S+)$', text, re.M
    )
    fallbacks = re.findall(r"^hybridroute_fallbacks_total\{[^}]*\} (\S+)$", text, re.M)
    out.t.append(round(time.monotonic() - t0, 1))
    out.rss_kib.append(rss)
    out.fds.append(fds)
    out.sockets.append(sockets)
    out.small_open.append(max((float(v) for v in opened), default=0.0))
    out.fallbacks.append(sum(float(v) for v in fallbacks))


def flat(values: list[int], skip: int) -> dict[str, Any]:
    """First vs last five samples after the warm-up: ``flat`` when the change is within
    10% either way, ``no_growth`` when it is not more than 10% up."""
    after = values[skip:]
    if len(after) < 10:
        return {"enough_samples": False, "after_warmup": after}
    first, last = statistics.mean(after[:5]), statistics.mean(after[-5:])
    growth = (last - first) / first if first else 0.0
    return {
        "first_mean": round(first, 1),
        "last_mean": round(last, 1),
        "min": min(after),
        "max": max(after),
        "growth": round(growth, 4),
        "flat": abs(growth) <= 0.10,
        "no_growth": growth <= 0.10,
    }


def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    ports = {"large": free_port(), "small": free_port()}
    ups = {
        name: Proc(
            f"{name} upstream",
            [
                sys.executable,
                str(HERE / "faulty_upstream.py"),
                "--port",
                str(port),
                "--seed",
                str(seed),
            ],
            work / f"{name}.log",
            args.nice,
        ).start()
        for (name, port), seed in zip(ports.items(), (1, 2), strict=True)
    }
    for name, up in ups.items():
        wait_ok(up, f"http://127.0.0.1:{ports[name]}/healthz")
    (work / "policy.json").write_text(policy(ports["large"], ports["small"]))
    rport = free_port()
    router = Proc(
        "router",
        [
            str(Path(sys.executable).parent / "hybridroute-router"),
            "--policy",
            str(work / "policy.json"),
            "--port",
            str(rport),
            "--decision-log",
            "off",
            "--log-level",
            "warning",
        ],
        work / "router.log",
        args.nice,
    ).start()
    url = f"http://127.0.0.1:{rport}"
    try:
        wait_ok(router, f"{url}/readyz")
        peak = wrk(url, args.calibrate, 0.0, args.nice)
        target = peak["rate"] * args.load
        cycle_ms = CONNECTIONS / target * 1000  # per connection: latency + think time
        trial = wrk(url, args.calibrate, cycle_ms * 0.9, args.nice)
        latency_ms = CONNECTIONS / trial["rate"] * 1000 - cycle_ms * 0.9
        delay_ms = max(cycle_ms - latency_ms, 0.0)
        print(
            f"peak {peak['rate']:.0f} req/s; target {target:.0f}; think {delay_ms:.2f} ms",
            flush=True,
        )
        samples = Samples()
        result: dict[str, Any] = {}
        runner = threading.Thread(
            target=lambda: result.update(wrk(url, args.duration, delay_ms, args.nice))
        )
        t0 = time.monotonic()
        runner.start()
        restart_at, restarted, up_again = args.duration * 0.4, False, False
        while runner.is_alive():
            runner.join(timeout=args.sample)
            now = time.monotonic() - t0
            if runner.is_alive():
                sample(router.pid, url, t0, samples)
            if not restarted and now >= restart_at:
                ups["small"].kill()
                restarted = True
                print(f"{now:.0f}s: small upstream killed", flush=True)
            elif restarted and not up_again and now >= restart_at + args.down:
                ups["small"].start()
                wait_ok(ups["small"], f"http://127.0.0.1:{ports['small']}/healthz")
                up_again = True
                print(f"{now:.0f}s: small upstream started again", flush=True)
        alive = router.proc is not None and router.proc.poll() is None
        return report(args, peak, target, delay_ms, result, samples, alive)
    finally:
        router.kill(signal.SIGTERM)
        for up in ups.values():
            up.kill()


def report(
    args: argparse.Namespace,
    peak: dict[str, Any],
    target: float,
    delay_ms: float,
    result: dict[str, Any],
    samples: Samples,
    alive: bool,
) -> dict[str, Any]:
    statuses = {int(k): v for k, v in result.get("statuses", {}).items()}
    errors = sum(n for s, n in statuses.items() if s >= 400) + result["stream_error"]
    lost = result["errors_connect"] + result["errors_read"] + result["errors_write"]
    skip = next((i for i, t in enumerate(samples.t) if t >= args.duration * args.warmup), 0)
    opened = [i for i, v in enumerate(samples.small_open) if v >= 1]
    closed_after = bool(opened) and any(v == 0 for v in samples.small_open[opened[-1] :])
    return {
        "measured": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": args.duration,
        "load_share": args.load,
        "peak_rate": round(peak["rate"], 1),
        "target_rate": round(target, 1),
        "achieved_rate": round(result["rate"], 1),
        "think_ms": round(delay_ms, 3),
        "requests": result["requests"],
        "answered_ok": result["ok"] + result["stream_ok"],
        "clear_errors": errors,
        "statuses": statuses,
        "streams_ended_with_error_event": result["stream_error"],
        "unclear": result["unclear"],
        "lost": lost,
        "hung": result["errors_timeout"],
        "latency_max_ms": round(result["latency_max_us"] / 1000, 1),
        "router_alive": alive,
        "rss_kib": flat(samples.rss_kib, skip),
        "fds": flat(samples.fds, skip),
        "fds_not_sockets": flat(
            [f - s for f, s in zip(samples.fds, samples.sockets, strict=True)], skip
        ),
        "sockets": flat(samples.sockets, skip),
        "breaker_opened": bool(opened),
        "breaker_closed_again": closed_after,
        "fallbacks": samples.fallbacks[-1] if samples.fallbacks else 0,
        "samples": samples.__dict__,
    }


def main() -> None:
    args = parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hybridroute-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    out = soak(args, work)
    summary = {k: v for k, v in out.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    ok = (
        out["router_alive"]
        and out["lost"] == 0
        and out["hung"] == 0
        and out["unclear"] == 0
        and out["rss_kib"].get("flat")
        # descriptors other than sockets must stay flat; sockets follow the number of
        # connections in use (upstream servers close idle keep-alive ones), so they
        # must only not grow
        and out["fds_not_sockets"].get("flat")
        and out["sockets"].get("no_growth")
        and out["breaker_opened"]
        and out["breaker_closed_again"]
    )
    print("soak: PASS" if ok else "soak: FAIL", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
