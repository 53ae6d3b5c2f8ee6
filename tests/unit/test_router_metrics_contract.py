"""docs/metrics.md is the contract the operator queries: every documented metric exists
with the documented type and labels, and nothing undocumented is exported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hybridroute_router.telemetry.metrics import Metrics

pytestmark = pytest.mark.unit

DOC = Path(__file__).parents[2] / "docs" / "metrics.md"
ROW = re.compile(
    r"^\| `(hybridroute_[a-z_]+)` \| (counter|gauge|histogram) \| ([a-z0-9_, ]+) \|", re.M
)


def documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    rows = ROW.findall(DOC.read_text(encoding="utf-8"))
    return {
        name: (kind, tuple(x.strip() for x in labels.split(","))) for name, kind, labels in rows
    }


def exported() -> dict[str, tuple[str, tuple[str, ...]]]:
    metrics = Metrics()
    out = {}
    for value in vars(metrics).values():
        kind = getattr(value, "_type", None)
        if kind not in ("counter", "gauge", "histogram"):
            continue
        name = value._name + ("_total" if kind == "counter" else "")
        out[name] = (kind, tuple(value._labelnames))
    return out


def test_every_exported_metric_is_documented_with_its_type_and_labels() -> None:
    assert len(documented()) >= 15
    assert exported() == documented()
