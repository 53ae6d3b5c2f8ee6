"""The structural complexity score: a weighted sum of request features in [0, 1].

This is the heuristic default scorer's formula and also what the decision reports as
``scores["heuristic"]`` whatever scorer the policy selects.
"""

from __future__ import annotations

import math

from hybridroute_router.decision.features import Features

# Weights are chosen so that a short plain question scores ~0.1, a long multi-part
# coding or math request scores above 0.5, and any single signal alone stays below 0.5.
W_TOKENS = 0.30
W_CODE = 0.25
W_MATH = 0.20
W_MULTI_STEP = 0.20
W_QUESTIONS = 0.10
W_DEPTH = 0.10
TOKENS_SATURATE = 2048
QUESTIONS_SATURATE = 4
DEPTH_SATURATE = 8


def structural_score(f: Features) -> float:
    tokens = min(math.log1p(f.tokens) / math.log1p(TOKENS_SATURATE), 1.0)
    questions = min(max(f.questions - 1, 0) / (QUESTIONS_SATURATE - 1), 1.0)
    depth = min((f.depth - 1) / (DEPTH_SATURATE - 1), 1.0)
    score = (
        W_TOKENS * tokens
        + W_CODE * f.has_code
        + W_MATH * f.has_math
        + W_MULTI_STEP * f.multi_step
        + W_QUESTIONS * questions
        + W_DEPTH * depth
    )
    return min(max(score, 0.0), 1.0)
