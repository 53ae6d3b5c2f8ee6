"""The JSON-lines log sinks never fail a request, but records they lose are counted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hybridroute_router.telemetry.logs import JsonlSink
from hybridroute_router.telemetry.metrics import Metrics

pytestmark = pytest.mark.unit


def _dropped(metrics: Metrics, log: str) -> float:
    value = metrics.registry.get_sample_value("hybridroute_log_records_dropped_total", {"log": log})
    return value or 0.0


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
async def test_records_lost_to_a_full_disk_are_counted() -> None:
    metrics = Metrics()
    sink = JsonlSink("/dev/full", dropped=metrics.log_dropped.labels("decision"))
    for i in range(3):
        sink.write({"n": i})
    sink.flush()  # ENOSPC: swallowed, counted
    await sink.aclose()
    assert _dropped(metrics, "decision") == 3.0


async def test_records_for_a_log_that_cannot_be_opened_are_counted(tmp_path: Path) -> None:
    metrics = Metrics()
    sink = JsonlSink(
        str(tmp_path / "missing-dir" / "f.jsonl"), dropped=metrics.log_dropped.labels("feedback")
    )
    sink.write({"n": 1})
    sink.write({"n": 2})
    await sink.aclose()
    assert not sink.writable
    assert _dropped(metrics, "feedback") == 2.0


async def test_written_records_are_not_counted_as_dropped(tmp_path: Path) -> None:
    metrics = Metrics()
    path = tmp_path / "ok.jsonl"
    sink = JsonlSink(str(path), dropped=metrics.log_dropped.labels("decision"))
    sink.write({"n": 1})
    await sink.aclose()
    assert path.read_text() == '{"n":1}\n'
    assert _dropped(metrics, "decision") == 0.0
