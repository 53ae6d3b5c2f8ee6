"""Similarity scorer: nearest neighbours among user examples labeled simple/hard."""

from pathlib import Path

import numpy as np
import pytest
from hybridroute_policy import Policy
from hybridroute_router.scorers.embedding import MiniLMEmbedder, embedding_available
from hybridroute_router.scorers.hashed import hashed_dense
from hybridroute_router.scorers.registry import load_scorer
from hybridroute_router.scorers.similarity import Example, SimilarityScorer

pytestmark = pytest.mark.unit

EXAMPLES = [
    Example("reset my password please", "simple"),
    Example("what are your opening hours", "simple"),
    Example("how do I change my email address", "simple"),
    Example("prove the convergence of this series and derive the error bound", "hard"),
    Example("derive the gradient of the loss for a transformer attention layer", "hard"),
    Example("write a proof that the algorithm terminates and analyse its complexity", "hard"),
]


class FixedScorerMock:
    """Stands in for the learned scorer in the blend: always the same score."""

    name = "fixed"

    def __init__(self, value: float) -> None:
        self.value = value

    def score(self, prompt: str) -> float:
        return self.value


def test_prompt_near_hard_examples_scores_higher_with_hashed_embeddings() -> None:
    scorer = SimilarityScorer(EXAMPLES, hashed_dense, k=3)
    hard = scorer.score("please derive the error bound and prove convergence of the series")
    easy = scorer.score("I need to reset my password")
    assert hard > 0.5 > easy


def test_blend_weights_the_knn_score_against_the_base_scorer() -> None:
    scorer = SimilarityScorer(EXAMPLES, hashed_dense, k=1, weight=0.25, base=FixedScorerMock(0.8))
    knn = scorer.knn_score("reset my password please")
    assert knn == pytest.approx(0.0)
    assert scorer.score("reset my password please") == pytest.approx(0.75 * 0.8)


def test_without_examples_the_base_score_is_used() -> None:
    scorer = SimilarityScorer([], hashed_dense, base=FixedScorerMock(0.3))
    assert scorer.knn_score("anything") is None
    assert scorer.score("anything") == pytest.approx(0.3)


def test_k_larger_than_the_examples_uses_them_all() -> None:
    scorer = SimilarityScorer(EXAMPLES[:2], hashed_dense, k=50)
    assert scorer.score("reset my password") == pytest.approx(0.0)


@pytest.mark.skipif(not embedding_available(), reason="MiniLM packages not installed")
def test_minilm_embeddings_are_unit_vectors_that_capture_meaning() -> None:
    embedder = MiniLMEmbedder()
    a, b, c = embedder.embed_many(
        [
            "How can I recover access to my account?",
            "I forgot my password and cannot log in.",
            "Derive the Navier-Stokes equations from conservation of momentum.",
        ]
    )
    assert a.shape == (384,)
    assert float(np.linalg.norm(a)) == pytest.approx(1.0, abs=1e-4)
    assert float(a @ b) > float(a @ c) + 0.2
    assert embedder.embed("How can I recover access to my account?") is not None


@pytest.mark.skipif(not embedding_available(), reason="MiniLM packages not installed")
def test_minilm_similarity_generalises_beyond_shared_words() -> None:
    scorer = SimilarityScorer(EXAMPLES, MiniLMEmbedder().embed, k=3)
    # no word in common with the hard examples, but the same kind of request
    assert scorer.score("Show mathematically that this sequence has a limit.") > scorer.score(
        "When does your shop open on Sunday?"
    )


def test_registry_builds_the_similarity_scorer_from_policy_examples(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HYBRIDROUTE_EMBEDDINGS", "hashed")
    policy = Policy.model_validate(
        {
            "large": {"upstream": {"baseUrl": "http://l:8000/v1", "model": "big"}},
            "small": {
                "versions": [
                    {"name": "v1", "upstream": {"baseUrl": "http://s:8000/v1", "model": "s"}}
                ]
            },
            "complexity": {"scorer": "similarity"},
            "similarity": {
                "examples": [{"text": e.text, "label": e.label} for e in EXAMPLES],
                "k": 3,
                "weight": 1.0,
            },
        }
    )
    loaded = load_scorer(policy)
    assert loaded.fallback_reason is None
    assert loaded.scorer.name == "similarity"
    assert loaded.scorer.score("reset my password please") == pytest.approx(0.0)
