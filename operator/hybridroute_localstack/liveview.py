"""The demo's live summary: a rich table redrawn in place on a terminal, one plain line
per refresh otherwise (pipes, CI logs)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from hybridroute_localstack.summary import Summary


@dataclass(frozen=True)
class RouteState:
    """What the HybridRoute's status says (``-`` when a field is absent)."""

    threshold: str = "-"
    canary_phase: str = "-"
    canary_weight: str = "-"

    @classmethod
    def from_route(cls, route: dict[str, Any] | None) -> RouteState:
        status = (route or {}).get("status") or {}
        adaptation = status.get("adaptation") or {}
        policy = status.get("policy") or {}
        threshold = adaptation.get("effectiveThreshold", policy.get("threshold"))
        canary = status.get("canary") or {}
        weight = canary.get("weight", policy.get("canaryWeight"))
        return cls(
            threshold="-" if threshold is None else f"{float(threshold):.3f}",
            canary_phase=str(canary.get("phase") or "-"),
            canary_weight="-" if weight is None else str(weight),
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "effective_threshold": self.threshold,
            "canary_phase": self.canary_phase,
            "canary_weight": self.canary_weight,
        }


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 1000:.0f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def plain_line(elapsed: float, summary: Summary, route: RouteState) -> str:
    acc = summary.accuracy
    latency = " ".join(
        f"{v}:p50={_ms(s['p50'])}ms/p99={_ms(s['p99'])}ms"
        for v, s in summary.latency_seconds.items()
    )
    return (
        f"[{elapsed:5.0f}s] requests={summary.requests} errors={summary.errors} "
        f"small={_pct(summary.small_share)} (last 30s {_pct(summary.recent_small_share)}) "
        f"accuracy={_pct(acc.get('delivered'))} "
        f"(all-large {_pct(acc.get('all_large'))}, all-small {_pct(acc.get('all_small'))}) "
        f"cost-saved={_pct(summary.cost_usd.get('saved_fraction'))} "
        f"energy-saved={_pct(summary.energy_joules.get('saved_fraction'))} "
        f"threshold={route.threshold} canary={route.canary_phase}({route.canary_weight}) {latency}"
    )


def rich_table(elapsed: float, summary: Summary, route: RouteState) -> Any:
    from rich.table import Table

    acc = summary.accuracy
    table = Table(title=f"HybridRoute demo traffic, {elapsed:.0f}s", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("requests / errors", f"{summary.requests} / {summary.errors}")
    table.add_row(
        "share to small",
        f"{_pct(summary.small_share)}  (last 30 s: {_pct(summary.recent_small_share)})",
    )
    table.add_row(
        "accuracy delivered",
        f"{_pct(acc.get('delivered'))}  (all-large {_pct(acc.get('all_large'))}, "
        f"all-small {_pct(acc.get('all_small'))})",
    )
    cost, energy = summary.cost_usd, summary.energy_joules
    table.add_row(
        "cost saved vs all-large",
        f"{_pct(cost.get('saved_fraction'))}  (${cost.get('saved', 0.0):.4f})",
    )
    table.add_row(
        "energy saved vs all-large",
        f"{_pct(energy.get('saved_fraction'))}  ({energy.get('saved', 0.0):.0f} J)",
    )
    for version, stats in summary.latency_seconds.items():
        table.add_row(
            f"latency {version}",
            f"p50 {_ms(stats['p50'])} ms, p99 {_ms(stats['p99'])} ms ({stats['count']:.0f})",
        )
    table.add_row("effective threshold", route.threshold)
    table.add_row("canary phase (weight)", f"{route.canary_phase} ({route.canary_weight})")
    return table


class LiveView:
    """``update(elapsed, summary, route)`` draws; ``close()`` leaves the last frame."""

    def __init__(self, out: TextIO = sys.stdout, fancy: bool | None = None) -> None:
        self.out = out
        want = out.isatty() if fancy is None else fancy
        self._live: Any = None
        self._draw: Callable[[float, Summary, RouteState], None] = self._plain
        if want:
            try:
                from rich.console import Console
                from rich.live import Live
            except ImportError:
                return
            self._live = Live(console=Console(file=out), auto_refresh=False)
            self._live.start()
            self._draw = self._fancy

    def update(self, elapsed: float, summary: Summary, route: RouteState) -> None:
        self._draw(elapsed, summary, route)

    def _plain(self, elapsed: float, summary: Summary, route: RouteState) -> None:
        print(plain_line(elapsed, summary, route), file=self.out, flush=True)

    def _fancy(self, elapsed: float, summary: Summary, route: RouteState) -> None:
        self._live.update(rich_table(elapsed, summary, route), refresh=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
