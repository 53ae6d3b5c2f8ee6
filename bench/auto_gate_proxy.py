"""Out-of-source evidence for the ``auto`` scorer's gate on questions without options.

None of the training data is open-ended: every prompt is a multiple-choice question. As a
proxy for open questions (word problems and the like), each source is held out in turn
(``cv --split sources``: the recipe trained on the other three, with options) and its
questions are scored **with their answer options removed** (the stem up to the first
``A.``/``(A)`` line, labels unchanged: the same question, asked open). Reported per
held-out source, APGR averaged over its model pairs:

- ``with options``: the held-out prompts as they are (all take auto's learned branch);
- ``stems``: every stem; auto mixes both branches here;
- ``stems auto sends to learned``: the stems the gate finds to be open exam-style
  problems (:func:`hybridroute_router.scorers.domain.open_question`).

    .venv/bin/python bench/auto_gate_proxy.py   # about a minute

A proxy, not a benchmark: a stem's labels are those of the question with its options,
and nothing here is chat. See docs/routing-quality.md, "The default scorer: auto".
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from hybridroute_quality import metrics as mx
from hybridroute_quality.datasets import Row

ROOT = Path(__file__).resolve().parents[1]
DATA = [
    ROOT.parent / "shared" / "data" / "routing-eval" / "mmlu",
    ROOT.parent / "shared" / "data" / "routing-train",
]
_OPTION = re.compile(r"^[ \t]*\(?[A-J][.):](?=\s)", re.MULTILINE)


def stem(prompt: str) -> str:
    """The question without its answer options (and without what follows them)."""
    match = _OPTION.search(prompt)
    return (prompt[: match.start()] if match else prompt).rstrip()


def main() -> int:
    from hybridroute_quality.crossval import source_folds
    from hybridroute_quality.datasets import load
    from hybridroute_quality.train import TrainOptions, featurize, fit_artifact, unit_scores
    from hybridroute_router.scorers.auto import AutoScorer
    from hybridroute_router.scorers.domain import open_question
    from hybridroute_router.scorers.learned import LearnedScorer, heuristic_score

    rows = load(DATA).rows
    options = TrainOptions(show_progress=False)
    names = ("auto", "learned", "heuristic", "token-length")
    print("| held-out source | prompts | n | " + " | ".join(names) + " |")
    print("|---|---|---:|" + "---:|" * len(names))
    for fold in source_folds(rows):
        art = fit_artifact(fold.train, featurize([r.prompt for r in fold.train], options), options)
        auto = AutoScorer(LearnedScorer(art))
        views: list[tuple[str, Callable[[str], str], Callable[[Row], bool]]] = [
            ("with options", lambda p: p, lambda r: True),
            ("stems", stem, lambda r: True),
            ("stems auto sends to learned", stem, lambda r: open_question(stem(r.prompt))),
        ]
        for label, view, keep in views:
            test = [r for r in fold.test if keep(r)]
            prompts = [view(r.prompt) for r in test]
            learned = unit_scores(art, featurize(prompts, options))
            keys = {
                "auto": np.asarray(
                    [
                        learned[i] if auto.branch(p) == "learned" else auto.score(p)
                        for i, p in enumerate(prompts)
                    ]
                ),
                "learned": learned,
                "heuristic": np.asarray([heuristic_score(p) for p in prompts]),
                "token-length": np.asarray([len(p) for p in prompts], dtype=np.float64),
            }
            apgr = {name: _mean_apgr(test, keys[name]) for name in names}
            cells = " | ".join(f"{apgr[n]:.3f}" for n in names)
            print(f"| {fold.name} | {label} | {len(set(prompts))} | {cells} |", flush=True)
    return 0


def _mean_apgr(test: Sequence[Row], keys: npt.NDArray[np.float64]) -> float:
    """APGR per model pair (pairs share prompts), averaged."""
    out = []
    for pair in sorted({r.pair for r in test}):
        idx = np.asarray([i for i, r in enumerate(test) if r.pair == pair])
        small = np.asarray([test[i].small for i in idx])
        large = np.asarray([test[i].large for i in idx])
        if small.mean() != large.mean():
            curve = mx.quality_curve(keys[idx], small, large)
            out.append(mx.apgr(curve, float(small.mean()), float(large.mean())))
    return float(np.mean(out))


if __name__ == "__main__":
    sys.exit(main())
