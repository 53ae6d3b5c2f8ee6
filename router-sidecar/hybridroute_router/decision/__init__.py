"""The pure core of the router: features, scores, tiers, version choice, the decision,
confidence and answer comparison. Nothing here does I/O."""

from hybridroute_router.decision.decide import Decision, Signals, Target, decide
from hybridroute_router.decision.features import Features, extract, text_features
from hybridroute_router.decision.reasons import ALL_REASONS, Reason

__all__ = [
    "ALL_REASONS",
    "Decision",
    "Features",
    "Reason",
    "Signals",
    "Target",
    "decide",
    "extract",
    "text_features",
]
