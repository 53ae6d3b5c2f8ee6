"""Pick the scorer named in ``policy.complexity.scorer``.

The learned and similarity scorers live in optional modules written separately
(``scorers.learned``, ``scorers.similarity``) that need numpy/onnxruntime. They are
imported lazily, here only; each exposes ``from_policy(policy) -> Scorer``. When a
module, its dependencies or its artifact are missing, the router falls back to the
heuristic scorer and reports why (logged, and visible in ``/readyz`` and explain).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from hybridroute_policy import Policy

from hybridroute_router.scorers.base import Scorer
from hybridroute_router.scorers.heuristic import HeuristicScorer

log = logging.getLogger("hybridroute.router.scorers")

OFFLOAD_ABOVE_SECONDS = 0.001
_PROBE = "Explain, step by step, how a hash map handles collisions, with a short example."

_MODULES = {
    "learned": "hybridroute_router.scorers.learned",
    "similarity": "hybridroute_router.scorers.similarity",
}


@dataclass(frozen=True, slots=True)
class LoadedScorer:
    scorer: Scorer
    requested: str
    fallback_reason: str | None = None
    """Why the requested scorer is not in use (None when it is)."""
    offload: bool = False
    """Score in a worker thread: one call takes longer than ``OFFLOAD_ABOVE_SECONDS``."""


def load_scorer(policy: Policy) -> LoadedScorer:
    requested = str(policy.complexity.scorer)
    if requested == "heuristic":
        return LoadedScorer(HeuristicScorer(), requested)
    module_name = _MODULES.get(requested)
    if module_name is None:
        return _fallback(requested, f"unknown scorer {requested!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return _fallback(requested, f"{module_name} unavailable: {exc}")
    factory: Callable[[Policy], Scorer] | None = getattr(module, "from_policy", None)
    if factory is None:
        return _fallback(requested, f"{module_name} has no from_policy(policy)")
    try:
        scorer = factory(policy)
        probe = float(scorer.score("hello"))  # first call: warm-up (lazy model loads)
        started = time.perf_counter()
        scorer.score(_PROBE)
        elapsed = time.perf_counter() - started
    except Exception as exc:  # any failure to build or run the scorer: keep serving
        return _fallback(requested, f"{requested} scorer failed to load: {exc!r}")
    if not 0.0 <= probe <= 1.0:
        return _fallback(requested, f"{requested} scorer returned {probe} outside [0, 1]")
    return LoadedScorer(scorer, requested, offload=elapsed > OFFLOAD_ABOVE_SECONDS)


def _fallback(requested: str, reason: str) -> LoadedScorer:
    log.warning("scorer %r unavailable, using heuristic: %s", requested, reason)
    return LoadedScorer(HeuristicScorer(), requested, reason)
