"""PNG plot of an evaluation: quality vs large-model share, and quality vs cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hybridroute_quality.evaluate import Evaluation

_MAX_POINTS = 400


def _thin(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n, min(n + 1, _MAX_POINTS)).round().astype(int))


def save_plot(ev: Evaluation, path: Path, *, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    idx = _thin(ev.n)
    share = idx / ev.n
    for name, curve in ev.curves.items():
        style = ":" if name in ("random", "oracle") else "-"
        left.plot(share, curve.quality[idx], style, label=name)
        right.plot(curve.cost[idx] / ev.n, curve.quality[idx], style, label=name)
    for ax in (left, right):
        ax.axhline(ev.small_quality, color="grey", lw=0.6)
        ax.axhline(ev.large_quality, color="grey", lw=0.6)
        ax.set_ylabel("mean quality")
        ax.grid(alpha=0.3)
    left.set_xlabel("share of queries calling the large model")
    right.set_xlabel("cost per query (USD, configured prices)")
    left.legend(fontsize=8)
    fig.suptitle(title or f"routing quality, {ev.n} queries")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
