"""Complexity scorers: ``score(prompt) -> float`` in [0, 1], higher means harder
(more likely to need the large model)."""

from hybridroute_router.scorers.base import Scorer
from hybridroute_router.scorers.heuristic import HeuristicScorer

__all__ = ["HeuristicScorer", "Scorer"]
