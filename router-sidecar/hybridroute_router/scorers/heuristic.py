"""The default scorer: the structural complexity score of the prompt's text features."""

from __future__ import annotations

from hybridroute_router.decision.complexity import structural_score
from hybridroute_router.decision.features import text_features


class HeuristicScorer:
    """Token count, code, math, multi-step structure and questions; no model, no I/O."""

    name = "heuristic"

    def score(self, prompt: str) -> float:
        return structural_score(text_features(prompt))
