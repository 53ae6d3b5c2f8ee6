"""The ``auto`` scorer (the policy default): the learned model where a prompt looks like
its training data, the structural heuristic elsewhere, on one scale.

The learned default ranks exam questions better than the heuristic out of source, and
knows nothing of chat, code or instructions (docs/routing-quality.md). So a prompt the
gate (:func:`.domain.in_domain`) finds in the learned model's domain gets the learned
score, P(small model fails); every other prompt gets the heuristic score mapped onto the
same scale by :func:`.learned.heuristic_probability`: its rank among the training
prompts' heuristic scores through the learned artifact's calibration. The map is
strictly increasing, so on the heuristic branch ``auto`` orders prompts exactly as the
heuristic does; its values assume that a prompt at the heuristic's q-th quantile of the training
prompts fails as often as one at the learned score's q-th quantile (an assumption: no
labeled chat data checked it).

In the router the gate also sees the conversation: a request with more than one user
turn is chat, and its heuristic score counts the whole conversation, as
``scores.heuristic`` does.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from hybridroute_policy import Policy

from hybridroute_router.decision.complexity import structural_score
from hybridroute_router.decision.features import Features, text_features
from hybridroute_router.scorers import learned
from hybridroute_router.scorers.domain import in_domain

Branch = Literal["learned", "heuristic"]


class AutoScorer:
    """A :class:`~hybridroute_router.scorers.base.Scorer` choosing per prompt between a
    learned scorer and the heuristic mapped onto its scale."""

    name = "auto"

    def __init__(self, model: learned.LearnedScorer) -> None:
        self.learned = model
        self._curve = learned.heuristic_curve(model.artifact)

    def branch(self, prompt: str, depth: int = 1) -> Branch:
        return "learned" if in_domain(prompt, depth) else "heuristic"

    def from_heuristic(self, heuristic: float) -> float:
        """A heuristic score as the learned artifact's calibrated probability."""
        return float(np.interp(heuristic, *self._curve))

    def scores_request(self, features: Features) -> dict[str, float]:
        """The router's call: the request's features (conversation depth, and the
        heuristic over the whole conversation) decide the branch. Returns ``auto``'s
        score, and the same as ``learned`` when the learned branch gave it (so explain
        answers and decision logs show the branch)."""
        if self.branch(features.prompt, features.depth) == "learned":
            value = self.learned.score(features.prompt)
            return {"learned": value, self.name: value}
        return {self.name: self.from_heuristic(structural_score(features))}

    def score_request(self, features: Features) -> float:
        return self.scores_request(features)[self.name]

    def score(self, prompt: str) -> float:
        """One user turn (the offline tools' call)."""
        return self.score_request(text_features(prompt))


def from_policy(policy: Policy) -> AutoScorer:
    """The registry's hook: the learned part is ``complexity.scorerArtifact`` or the
    shipped default."""
    return AutoScorer(learned.from_policy(policy))
