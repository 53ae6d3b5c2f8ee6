"""Semi-synthetic rows for the composite policy: real prompts and real outcomes, SIMULATED
small-model logprobs.

No shared data carries the small model's logprobs, so `hybridroute eval` cannot run the
cascade or the composite on it as it is. This script takes one model pair's real rows
(prompt, small and large correctness) and draws a mean logprob per row from its real
correctness: right answers around ``--right-mean`` (default -0.15), wrong ones around
``--wrong-mean`` (default -0.7), normal with ``--spread``, capped at 0. The pre-router's
score and the outcomes stay real; only the cascade's confidence is made up, with a
separation stated on stderr (AUROC of the logprob for correctness).

    .venv/bin/python bench/composite_semisynthetic.py ../shared/data/routing-train \\
        --pair llama-3.1-8b --out /tmp/llama8b.jsonl
    .venv/bin/hybridroute eval /tmp/llama8b.jsonl --scorer default \\
        --composite-scorer default --small-latency-ms 400
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from hybridroute_quality import datasets


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties half."""
    order = np.argsort(score, kind="stable")
    ranks = np.empty(score.size)
    ranks[order] = np.arange(1, score.size + 1)
    for value in np.unique(score):  # average ranks of ties
        same = score == value
        ranks[same] = ranks[same].mean()
    pos = positive.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", nargs="+")
    p.add_argument("--pair", required=True, help="part of 'small>large'")
    p.add_argument("--out", required=True)
    p.add_argument("--right-mean", type=float, default=-0.15)
    p.add_argument("--wrong-mean", type=float, default=-0.7)
    p.add_argument("--spread", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rows = [r for r in datasets.load(args.data).rows if args.pair in r.pair]
    if not rows:
        print(f"no rows of a pair matching {args.pair!r}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    right = np.asarray([r.small for r in rows]) >= 0.5
    lp = np.where(right, args.right_mean, args.wrong_mean) + args.spread * rng.normal(
        size=len(rows)
    )
    lp = np.minimum(lp, 0.0)
    with Path(args.out).open("w", encoding="utf-8") as out:
        for r, v in zip(rows, lp, strict=True):
            row = {"prompt": r.prompt, "small": r.small, "large": r.large, "small_logprob": v}
            out.write(json.dumps({**row, "source": r.source, "pair": r.pair}) + "\n")
    print(
        f"{len(rows)} rows of {rows[0].pair}; simulated logprob AUROC for a right answer "
        f"{auroc(lp, right):.3f}; escalated at -0.4: {np.mean(lp < -0.4):.1%} "
        f"(small wrong on {np.mean(~right):.1%})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
