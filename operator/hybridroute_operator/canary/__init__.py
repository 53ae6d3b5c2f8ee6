"""Canary analysis and promotion of small-model versions: the pure parts (rollout state,
checks, the state machine, discovery, conditions). The I/O is ``loops.canary``."""

from hybridroute_operator.canary.checks import (
    Analysis,
    Failure,
    Reading,
    Target,
    analysis_shadow,
    evaluate,
    fill_template,
    queries,
)
from hybridroute_operator.canary.conditions import CONDITION_TYPES, conditions
from hybridroute_operator.canary.discovery import (
    Discovered,
    build_world,
    discover,
    initial_stable,
    label_selector,
)
from hybridroute_operator.canary.machine import (
    ABORT,
    PROMOTE,
    RETRY,
    Decision,
    Manual,
    Version,
    World,
    conclude,
    decide,
    prepare,
)
from hybridroute_operator.canary.rollout import PHASES, CheckResult, Phase, Rollout

__all__ = [
    "ABORT",
    "CONDITION_TYPES",
    "PHASES",
    "PROMOTE",
    "RETRY",
    "Analysis",
    "CheckResult",
    "Decision",
    "Discovered",
    "Failure",
    "Manual",
    "Phase",
    "Reading",
    "Rollout",
    "Target",
    "Version",
    "World",
    "analysis_shadow",
    "build_world",
    "conclude",
    "conditions",
    "decide",
    "discover",
    "evaluate",
    "fill_template",
    "initial_stable",
    "label_selector",
    "prepare",
    "queries",
]
