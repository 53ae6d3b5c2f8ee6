"""The alerts and the dashboard query only metrics that exist, with labels they have: router
metrics as docs/metrics.md documents them (tests/unit/test_router_metrics_contract.py
holds the router to that table), operator metrics as the operator registers them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hybridroute_operator.metrics import OperatorMetrics

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts" / "hybridroute-operator"
ROW = re.compile(
    r"^\| `(hybridroute_[a-z_]+)` \| (counter|gauge|histogram) \| ([a-z_, ]+) \|", re.M
)
SELECTOR = re.compile(r"\b(hybridroute_[a-z_]+)\s*(\{[^}]*\})?")
LABEL = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)")
# labels Prometheus adds at scrape time (ServiceMonitor targets) or histograms carry
TARGET_LABELS = {"namespace", "pod", "job", "instance", "service", "container", "endpoint"}
SUFFIXES = ("_bucket", "_sum", "_count")
GROUPING = re.compile(r"\bby\s*\(([^)]*)\)\s*\(")


def router_metrics() -> dict[str, tuple[str, set[str]]]:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    return {
        name: (kind, {label.strip() for label in labels.split(",")})
        for name, kind, labels in ROW.findall(text)
    }


def operator_metrics() -> dict[str, tuple[str, set[str]]]:
    registry = OperatorMetrics().registry
    out: dict[str, tuple[str, set[str]]] = {}
    for collector in registry._collector_to_names:  # prometheus_client has no public listing
        kind = getattr(collector, "_type", "")
        name = getattr(collector, "_name", "")
        suffix = "_total" if kind == "counter" else ""
        out[name + suffix] = (kind, set(getattr(collector, "_labelnames", ())))
    return out


def expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load((CHART / "rules" / "hybridroute.rules.yaml").read_text())
    found = [(f"alert {r['alert']}", r["expr"]) for g in rules["groups"] for r in g["rules"]]
    dashboard: dict[str, Any] = json.loads((CHART / "dashboards" / "hybridroute.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']}", target["expr"]))
    return found


def lookup(known: dict[str, tuple[str, set[str]]], name: str) -> tuple[str, set[str]] | None:
    if name in known:
        return known[name]
    for suffix in SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and known.get(base, ("", set()))[0] == "histogram":
            return "histogram", known[base][1] | ({"le"} if suffix == "_bucket" else set())
    return None


def grouped(expr: str) -> list[tuple[set[str], str]]:
    """Each ``AGG by (labels) (inner)`` of ``expr``: its labels and its inner expression."""
    found = []
    for match in GROUPING.finditer(expr):
        depth, start = 1, match.end()
        end = start
        while depth and end < len(expr):
            depth += {"(": 1, ")": -1}.get(expr[end], 0)
            end += 1
        labels = {label.strip() for label in match.group(1).split(",") if label.strip()}
        found.append((labels, expr[start : end - 1]))
    return found


def test_every_series_the_alerts_and_dashboard_use_exists_with_those_labels() -> None:
    known = router_metrics() | operator_metrics()
    checked = 0
    for where, expr in expressions():
        for name, selector in SELECTOR.findall(expr):
            metric = lookup(known, name)
            assert metric is not None, f"{where}: {name} is neither documented nor registered"
            used = set(LABEL.findall(selector or ""))
            unknown = used - metric[1] - TARGET_LABELS
            assert not unknown, f"{where}: {name} has no label {unknown}"
            checked += 1
    assert checked >= 40


def test_every_label_the_alerts_and_dashboard_group_by_is_on_the_series_they_group() -> None:
    """``sum by (route) (...)`` over a series without ``route`` gives one series with no
    route (an alert that names no route, a panel with one line): e.g. the per-process
    ``hybridroute_log_records_dropped_total`` and ``hybridroute_policy_reloads_total``
    carry no route, so their alert groups by pod."""
    known = router_metrics() | operator_metrics()
    checked = 0
    for where, expr in expressions():
        for labels, inner in grouped(expr):
            for name, _ in SELECTOR.findall(inner):
                metric = lookup(known, name)
                assert metric is not None, f"{where}: {name} is neither documented nor registered"
                missing = labels - metric[1] - TARGET_LABELS
                assert not missing, f"{where}: groups {name} by {missing}, which it lacks"
                checked += 1
    assert checked >= 40
