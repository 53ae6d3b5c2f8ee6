"""Per-query scoring cost of the router's complexity scorers, on one core.

Each scorer scores real MMLU and MMLU-Pro prompts, shuffled (each prompt once, so no
cache helps; MMLU-Pro's ten-option questions are the longest), timed one call at a time
with ``perf_counter_ns`` after a warm-up; p50, p99 and max per scorer.

    taskset -c 1 .venv/bin/python bench/bench_scorer.py [--prompts 2000] [--json OUT]

Pin to one core with taskset (or ``--cpu N``); onnxruntime is limited to one thread.
Target (issues 5 and 11): <= 2 ms p99 for the scorer the router uses by default (``auto``,
timed on the exam prompts, its learned branch, and on the chat fixture's prompts of
``tests/unit/data/chat_prompts/``, its heuristic branch).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = [
    ROOT.parent / "shared" / "data" / "routing-eval" / "mmlu",
    ROOT.parent / "shared" / "data" / "routing-train" / "mmlu-pro",
]


CHAT = ROOT / "tests" / "unit" / "data" / "chat_prompts" / "chat_prompts.jsonl"


def _chat_prompts(n: int) -> list[str]:
    """The last user turns of the chat/instruction/code fixture, repeated to ``n``: what
    the auto scorer's heuristic branch sees."""
    lines = CHAT.read_text(encoding="utf-8").splitlines()
    turns = [json.loads(line)["messages"][-1]["content"] for line in lines]
    return [turns[i % len(turns)] for i in range(n)]


def _prompts(n: int) -> list[str]:
    from hybridroute_quality.datasets import load

    prompts = sorted({r.prompt for r in load(DATA).rows})  # one per question, not per pair
    order = np.random.default_rng(0).permutation(len(prompts))
    return [prompts[i] for i in order[:n]]


Timings = tuple[list[float], list[float]]


def _time(score: Callable[[str], float], prompts: Sequence[str], warmup: int) -> Timings:
    """Wall time and this thread's CPU time of each call, in ms. CPU time leaves out the
    time the scheduler gave the core to other processes (the machine is shared)."""
    for p in prompts[:warmup]:
        score(p)
    wall, cpu = [], []
    for p in prompts[warmup:]:
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        score(p)
        t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
        wall.append((t1 - t0) / 1e6)
        cpu.append((c1 - c0) / 1e6)
    return wall, cpu


def _row(name: str, timings: Timings) -> dict[str, float | str | int]:
    wall, cpu = (np.asarray(t) for t in timings)
    return {
        "scorer": name,
        "n": int(wall.size),
        "cpu_p50_ms": float(np.percentile(cpu, 50)),
        "cpu_p99_ms": float(np.percentile(cpu, 99)),
        "wall_p50_ms": float(np.percentile(wall, 50)),
        "wall_p99_ms": float(np.percentile(wall, 99)),
        "wall_max_ms": float(wall.max()),
        "mean_ms": float(statistics.fmean(wall.tolist())),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--minilm-prompts", type=int, default=300)
    parser.add_argument("--cpu", type=int, help="pin this process to one core")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    from hybridroute_router.scorers.auto import AutoScorer
    from hybridroute_router.scorers.embedding import MiniLMEmbedder, embedding_available
    from hybridroute_router.scorers.hashed import hashed_dense
    from hybridroute_router.scorers.heuristic import HeuristicScorer
    from hybridroute_router.scorers.learned import load_default
    from hybridroute_router.scorers.similarity import Example, SimilarityScorer

    prompts = _prompts(args.prompts + 200)
    examples = [Example(p, "hard" if i % 2 else "simple") for i, p in enumerate(prompts[-200:])]
    prompts = prompts[: args.prompts]
    learned = load_default()
    auto = AutoScorer(learned)
    results = [
        _row("heuristic", _time(HeuristicScorer().score, prompts, 100)),
        _row(
            "learned (default v2: features + MLP, length, calibrated)",
            _time(learned.score, prompts, 100),
        ),
        _row("auto (the default), exam prompts: learned branch", _time(auto.score, prompts, 100)),
        _row(
            "auto (the default), chat fixture: heuristic branch",
            _time(auto.score, _chat_prompts(len(prompts)), 100),
        ),
    ]
    sim_hashed = SimilarityScorer(examples, hashed_dense, k=5, base=learned)
    results.append(_row("similarity (hashed, 200 examples)", _time(sim_hashed.score, prompts, 100)))
    if embedding_available():
        embedder = MiniLMEmbedder(threads=1, cache_size=1)
        sim = SimilarityScorer(examples[:50], embedder.embed, k=5, base=learned)
        few = prompts[: args.minilm_prompts]
        results.append(_row("similarity (MiniLM int8, 50 examples)", _time(sim.score, few, 20)))
    info = {
        "measured_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": platform.processor() or platform.machine(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "load_average": os.getloadavg()[0],
        "python": platform.python_version(),
        "results": results,
    }
    print("| scorer | n | CPU p50 ms | CPU p99 ms | wall p50 ms | wall p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['scorer']} | {r['n']} | {r['cpu_p50_ms']:.3f} | {r['cpu_p99_ms']:.3f} "
            f"| {r['wall_p50_ms']:.3f} | {r['wall_p99_ms']:.3f} |"
        )
    print(f"cores {info['affinity']}, load average {info['load_average']:.2f}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
