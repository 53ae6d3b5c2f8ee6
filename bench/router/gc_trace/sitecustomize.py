"""Benchmark-only: record the duration of every garbage collection in the router.

Put this folder on PYTHONPATH and set HR_GC_TRACE=<path prefix>: a process started as
``hybridroute-router`` then writes ``<prefix>.<pid>.json`` once a second with, per
generation, the number of collections, their total, p99 and longest duration (ms) and
how many took over 0.5 ms. Used by bench/router/tail.py --gc-trace; never by the router.
"""

from __future__ import annotations

import os
import sys

if os.environ.get("HR_GC_TRACE") and sys.argv[0].endswith("hybridroute-router"):
    import gc
    import json
    import threading
    import time

    _durations: dict[int, list[float]] = {0: [], 1: [], 2: []}
    _started = [0.0]

    def _on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _started[0] = time.perf_counter()
        else:
            _durations[info["generation"]].append((time.perf_counter() - _started[0]) * 1000)

    def _summary() -> dict[int, dict[str, float]]:
        out = {}
        for generation, values in _durations.items():
            ordered = sorted(values)
            out[generation] = {
                "collections": len(ordered),
                "total_ms": round(sum(ordered), 3),
                "p99_ms": round(ordered[int(len(ordered) * 0.99)], 3) if ordered else 0.0,
                "max_ms": round(ordered[-1], 3) if ordered else 0.0,
                "over_0.5ms": sum(1 for v in ordered if v > 0.5),
            }
        return out

    def _writer() -> None:
        path = f"{os.environ['HR_GC_TRACE']}.{os.getpid()}.json"
        while True:
            time.sleep(1)
            with open(path, "w") as fh:
                json.dump(_summary(), fh)

    gc.callbacks.append(_on_gc)
    threading.Thread(target=_writer, name="gc-trace", daemon=True).start()
