"""What the demo traffic shows (pure): share to small, delivered accuracy against
all-large and all-small, cost and energy saved against all-large, latency per model.

Counterfactuals use the recorded outcomes of the same questions (what the other model
would have answered) and the token counts of the answers actually served, priced at
the route's prices: since the large model is the more verbose one, "saved against
all-large" is an underestimate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Price:
    """The route's pricing and energy of one model (per 1K tokens)."""

    input_per_1k: float = 0.0
    output_per_1k: float = 0.0
    joules_per_1k: float = 0.0

    @classmethod
    def from_spec(cls, model: dict[str, Any]) -> Price:
        pricing = model.get("pricing") or {}
        energy = model.get("energy") or {}
        return cls(
            float(pricing.get("inputPer1kTokens", 0.0)),
            float(pricing.get("outputPer1kTokens", 0.0)),
            float(energy.get("joulesPer1kTokens", 0.0)),
        )

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_1k + completion_tokens * self.output_per_1k) / 1000

    def energy(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens + completion_tokens) * self.joules_per_1k / 1000


@dataclass(frozen=True)
class Result:
    """One request of the demo traffic."""

    started: float
    seconds: float
    status: int
    """HTTP status; 0 when no answer came (connection error, timeout)."""
    version: str = ""
    """``x-hybridroute-version``: ``large`` or a small-model version."""
    quality: float = 0.0
    recorded_small: bool = False
    recorded_large: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def small(self) -> bool:
        return self.ok and self.version not in ("", "large")


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (``q`` in 0-100) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Summary:
    requests: int = 0
    errors: int = 0
    small_share: float = 0.0
    accuracy: dict[str, float] = field(default_factory=dict)
    cost_usd: dict[str, float] = field(default_factory=dict)
    energy_joules: dict[str, float] = field(default_factory=dict)
    latency_seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    errors_by_status: dict[str, int] = field(default_factory=dict)
    recent_small_share: float | None = None
    """The share to small among requests started in the last ``window`` seconds."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "errors_by_status": self.errors_by_status,
            "small_share": self.small_share,
            "recent_small_share": self.recent_small_share,
            "accuracy": self.accuracy,
            "cost_usd": self.cost_usd,
            "energy_joules": self.energy_joules,
            "latency_seconds": self.latency_seconds,
        }


def _saved(delivered: float, baseline: float) -> float:
    return 1 - delivered / baseline if baseline > 0 else 0.0


def summarize(
    results: Iterable[Result],
    large: Price,
    small: Price,
    *,
    now: float | None = None,
    window: float = 30.0,
) -> Summary:
    """The numbers of the live view and of ``--summary-json``; with ``now`` (the
    results' clock) also the share to small over the last ``window`` seconds."""
    done = list(results)
    answered = [r for r in done if r.ok]
    summary = Summary(requests=len(done), errors=len(done) - len(answered))
    for r in done:
        if not r.ok:
            summary.errors_by_status[str(r.status)] = (
                summary.errors_by_status.get(str(r.status), 0) + 1
            )
    if not answered:
        return summary
    n = len(answered)
    summary.small_share = sum(r.small for r in answered) / n
    if now is not None:
        recent = [r for r in answered if r.started >= now - window]
        summary.recent_small_share = sum(r.small for r in recent) / len(recent) if recent else None
    summary.accuracy = {
        "delivered": sum(r.quality for r in answered) / n,
        "all_large": sum(r.recorded_large for r in answered) / n,
        "all_small": sum(r.recorded_small for r in answered) / n,
    }
    cost = sum(
        (small if r.small else large).cost(r.prompt_tokens, r.completion_tokens) for r in answered
    )
    all_large_cost = sum(large.cost(r.prompt_tokens, r.completion_tokens) for r in answered)
    energy = sum(
        (small if r.small else large).energy(r.prompt_tokens, r.completion_tokens) for r in answered
    )
    all_large_energy = sum(large.energy(r.prompt_tokens, r.completion_tokens) for r in answered)
    summary.cost_usd = {
        "delivered": cost,
        "all_large": all_large_cost,
        "saved": all_large_cost - cost,
        "saved_fraction": _saved(cost, all_large_cost),
    }
    summary.energy_joules = {
        "delivered": energy,
        "all_large": all_large_energy,
        "saved": all_large_energy - energy,
        "saved_fraction": _saved(energy, all_large_energy),
    }
    by_version: dict[str, list[float]] = {}
    for r in answered:
        by_version.setdefault(r.version or "?", []).append(r.seconds)
    summary.latency_seconds = {
        version: {
            "count": float(len(values)),
            "p50": percentile(values, 50),
            "p99": percentile(values, 99),
        }
        for version, values in sorted(by_version.items())
    }
    return summary
