"""The live local stack: time from `bash .ci/up` to the first answered query, and the
CPU the router processes use under demo traffic (docs/benchmarks.md, "Local stack").

    .venv/bin/python bench/bench_localstack.py --rate 50 --duration 60

Runs `bash .ci/up --traffic RATE --duration SECONDS --summary-json ...` with a fresh
state directory, timestamps its output lines, and prints one JSON object: seconds from
launching `bash .ci/up` to the line saying the first query was answered through the
route, and the summary's `router_cpu_cores` (CPU seconds of every router process over
the traffic period / its length) with the request and error counts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST = "first query answered through the route"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=50.0)
    p.add_argument("--duration", type=float, default=60.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-localstack-") as work:
        summary = Path(work) / "summary.json"
        env = {**os.environ, "HYBRIDROUTE_STATE_DIR": str(Path(work) / "state")}
        command = ["bash", ".ci/up", "--traffic", str(args.rate), "--duration",
                   str(args.duration), "--summary-json", str(summary), "--plain"]  # fmt: skip
        started = time.monotonic()
        first = None
        with subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                if first is None and FIRST in line:
                    first = time.monotonic() - started
            code = process.wait()
        result = json.loads(summary.read_text()) if summary.exists() else {}
    print(
        json.dumps(
            {
                "exit_code": code,
                "ci_up_to_first_answer_seconds": first,
                "rate": args.rate,
                "requests": result.get("requests"),
                "errors": result.get("errors"),
                "skipped": result.get("skipped"),
                "router_processes": result.get("router_processes"),
                "router_cpu_cores": result.get("router_cpu_cores"),
                "small_share": result.get("small_share"),
                "latency_seconds": result.get("latency_seconds"),
            },
            indent=2,
        )
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
