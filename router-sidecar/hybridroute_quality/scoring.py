"""Scorers by name for the offline tools: baselines, the router's scorers, artifacts.

Each resolves to a function ``rows -> keys`` (higher = send to the large model first):

- ``random``: a constant, i.e. the expectation over random orders (APGR exactly 0.5);
- ``oracle``: the true gain ``large - small`` (an upper bound, not a router);
- ``token-length``: the prompt's token count (``prompt_tokens`` or chars / 4);
- ``default``: the shipped default learned scorer, as the router loads it;
- ``heuristic``: the router's structural heuristic scorer;
- a path to an artifact written by ``hybridroute train``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from hybridroute_router.scorers.base import Scorer

from hybridroute_quality.datasets import Row
from hybridroute_quality.progress import progress

KeyFn = Callable[[Sequence[Row]], npt.NDArray[np.float64]]
BASELINES = ("random", "oracle", "token-length")
DEFAULT_SCORERS = ("random", "oracle", "token-length", "heuristic", "default")


def prompt_tokens(row: Row) -> int:
    if row.prompt_tokens is not None:
        return row.prompt_tokens
    return max(1, math.ceil(len(row.prompt) / 4))


def _random(rows: Sequence[Row]) -> npt.NDArray[np.float64]:
    return np.zeros(len(rows))


def _oracle(rows: Sequence[Row]) -> npt.NDArray[np.float64]:
    return np.asarray([r.large - r.small for r in rows], dtype=np.float64)


def _length(rows: Sequence[Row]) -> npt.NDArray[np.float64]:
    return np.asarray([prompt_tokens(r) for r in rows], dtype=np.float64)


def scorer_keys(scorer: Scorer, *, show_progress: bool = True) -> KeyFn:
    def keys(rows: Sequence[Row]) -> npt.NDArray[np.float64]:
        items = progress(rows, desc=f"scoring {scorer.name}", enabled=show_progress)
        return np.asarray([scorer.score(r.prompt) for r in items], dtype=np.float64)

    return keys


def resolve(name: str, *, show_progress: bool = True) -> KeyFn:
    """The key function of a scorer name or artifact path; ``ValueError`` if unknown."""
    if name == "random":
        return _random
    if name == "oracle":
        return _oracle
    if name == "token-length":
        return _length
    if name == "default":
        from hybridroute_router.scorers.learned import load_default

        return scorer_keys(load_default(), show_progress=show_progress)
    if name == "heuristic":
        from hybridroute_router.scorers.heuristic import HeuristicScorer

        return scorer_keys(HeuristicScorer(), show_progress=show_progress)
    path = Path(name)
    if path.with_suffix(".json").is_file():
        from hybridroute_router.scorers.learned import load_scorer

        return scorer_keys(load_scorer(path, name=path.stem), show_progress=show_progress)
    raise ValueError(
        f"unknown scorer {name!r}: use one of {', '.join(DEFAULT_SCORERS)} "
        "or the path of a trained artifact (.json)"
    )
