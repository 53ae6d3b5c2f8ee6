"""The ``auto`` scorer (the policy default): the learned model on exam-style questions,
the heuristic mapped onto the same scale on chat, code and instructions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hybridroute_policy import Policy
from hybridroute_policy.models import ScorerName
from hybridroute_quality.cli import main
from hybridroute_router.decision.complexity import structural_score
from hybridroute_router.decision.features import extract
from hybridroute_router.scorers.auto import AutoScorer
from hybridroute_router.scorers.domain import has_options, in_domain, open_question
from hybridroute_router.scorers.learned import load_default
from hybridroute_router.scorers.registry import default_artifact_sha256, load_scorer

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
CHAT = Path(__file__).parent / "data" / "chat_prompts" / "chat_prompts.jsonl"
WORD_PROBLEM = (
    "A baker sells 48 muffins in the morning and half as many in the afternoon. Each muffin "
    "costs $3. How much money does the baker make in the whole day?"
)


@pytest.fixture(scope="module")
def auto() -> AutoScorer:
    return AutoScorer(load_default())


def chat_requests() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CHAT.read_text(encoding="utf-8").splitlines()]


def test_every_question_of_the_training_data_takes_the_learned_branch(auto: AutoScorer) -> None:
    """All 15,592 distinct MMLU and MMLU-Pro prompts: the fold numbers of ``cv`` are the
    learned model's, unchanged."""
    folders = [SHARED / "routing-eval" / "mmlu", SHARED / "routing-train"]
    if not all(f.is_dir() for f in folders):
        pytest.skip(f"the shared training data is not under {SHARED}")
    from hybridroute_quality.datasets import load

    prompts = sorted({r.prompt for r in load(folders).rows})
    assert len(prompts) > 15_000
    outside = [p[:80] for p in prompts if not in_domain(p)]
    assert outside == []
    for prompt in prompts[::500]:  # the same score as the learned scorer alone
        assert auto.score(prompt) == auto.learned.score(prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "Which gas is most abundant in air?\nA. Oxygen\nB. Nitrogen\nC. Argon\nD. CO2\nAnswer:",
        "Which gas is most abundant in air?\n(A) Oxygen\n(B) Nitrogen\n(C) Argon",
        "Which gas is most abundant in air? (A) Oxygen (B) Nitrogen (C) Argon",
        "Pick one.\n  a) x\n  A) Oxygen\n  B) Nitrogen",
        "```python\nprint(1 if [] else 2)\n```\nWhat does this print?\nA. 1\nB. 2",
    ],
)
def test_answer_options_in_any_common_form_are_in_the_learned_domain(prompt: str) -> None:
    assert has_options(prompt)
    assert in_domain(prompt)


def test_a_word_problem_without_options_is_in_the_domain_and_chat_like_variants_are_not() -> None:
    assert open_question(WORD_PROBLEM)
    variants = {
        "first person": WORD_PROBLEM.replace("A baker sells", "I sell"),
        "a request": "Can you tell me: " + WORD_PROBLEM,
        "code": WORD_PROBLEM.replace("Each muffin", "`price = 3`; each muffin"),
        "no number": "Why do bakers usually sell more muffins in the morning than in the "
        "afternoon, and what does that say about their customers?",
        "short": "What is 48 / 2?",
        "not a question": WORD_PROBLEM.replace("?", "."),
    }
    assert [name for name, prompt in variants.items() if in_domain(prompt)] == []


def test_every_chat_instruction_and_code_request_of_the_fixture_takes_the_heuristic_branch(
    auto: AutoScorer,
) -> None:
    requests = chat_requests()
    assert {r["kind"] for r in requests} == {"chat", "instruction", "code", "multi-turn"}
    for request in requests:
        features = extract({"messages": request["messages"]})
        assert auto.branch(features.prompt, features.depth) == "heuristic", features.prompt
        expected = auto.from_heuristic(structural_score(features))
        assert auto.score_request(features) == pytest.approx(expected)
        assert 0.0 <= auto.score_request(features) <= 1.0


def test_a_conversation_is_chat_even_when_its_last_turn_is_an_exam_question(
    auto: AutoScorer,
) -> None:
    question = "Which gas is most abundant in air?\nA. Oxygen\nB. Nitrogen\nC. Argon"
    alone = extract({"messages": [{"role": "user", "content": question}]})
    learned = auto.learned.score(question)
    assert auto.scores_request(alone) == {"learned": learned, "auto": learned}
    later = extract(
        {
            "messages": [
                {"role": "user", "content": "Quiz me on chemistry."},
                {"role": "assistant", "content": "Sure."},
                {"role": "user", "content": question},
            ]
        }
    )
    assert auto.branch(later.prompt, later.depth) == "heuristic"
    assert auto.scores_request(later) == {"auto": auto.from_heuristic(structural_score(later))}


def test_the_heuristic_map_is_strictly_increasing_from_0_to_1(auto: AutoScorer) -> None:
    grid = np.linspace(0.0, 1.0, 2001)
    mapped = np.array([auto.from_heuristic(float(h)) for h in grid])
    assert mapped[0] == 0.0
    assert mapped[-1] == 1.0
    assert np.all(np.diff(mapped) > 0.0)  # keeps the heuristic's order: no new ties
    # inside the training prompts' heuristic range it is the calibrated fit: between
    # the extremes the learned model itself reaches (0.04 to 0.86 on training prompts)
    knots = auto.learned.artifact.heuristic_knots
    inner = mapped[(grid >= knots[0]) & (grid <= knots[-1])]
    assert 0.1 < inner.min() < inner.max() < 0.9


def test_scores_on_chat_keep_the_heuristics_order(auto: AutoScorer) -> None:
    prompts = [r["messages"][-1]["content"] for r in chat_requests() if len(r["messages"]) == 1]
    heuristic = [structural_score(extract({"prompt": p})) for p in prompts]
    scores = [auto.score(p) for p in prompts]
    assert all(0.0 <= s <= 1.0 for s in scores)
    order = np.argsort(heuristic, kind="stable")
    assert np.all(np.diff(np.asarray(scores)[order]) >= 0.0)


def test_auto_is_the_policy_default_and_the_router_loads_it() -> None:
    policy = Policy.model_validate(
        {
            "large": {"upstream": {"baseUrl": "http://l/v1", "model": "l"}},
            "small": {
                "versions": [{"name": "v1", "upstream": {"baseUrl": "http://s/v1", "model": "s"}}]
            },
        }
    )
    assert policy.complexity.scorer is ScorerName.AUTO
    loaded = load_scorer(policy)
    assert loaded.scorer.name == "auto"
    assert loaded.fallback_reason is None
    assert loaded.artifact_sha256 == default_artifact_sha256()
    assert not loaded.offload  # cheap: scored on the event loop


def test_eval_and_calibrate_accept_auto(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {"prompt": f"Say hello to friend number {i}.", "small": 1.0, "large": 1.0}
        for i in range(10)
    ] + [
        {"prompt": f"Question {i}?\nA. 1\nB. 2\nC. 3", "small": 0.0, "large": 1.0}
        for i in range(10)
    ]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "eval.json"
    args = ["eval", str(data), "--scorer", "auto", "--json", str(out), "--no-progress"]
    assert main(args) == 0
    assert set(json.loads(out.read_text())["scorers"]) == {"auto"}
    capsys.readouterr()
    args = ["calibrate", str(data), "--scorer", "auto", "--target-large-share", "0.5"]
    assert main([*args, "--no-progress"]) == 0
    assert "scorer: auto" in capsys.readouterr().out


def test_auto_uses_the_policys_artifact_for_its_learned_branch(tmp_path: Path) -> None:
    import dataclasses

    from hybridroute_router.scorers.learned import default_artifact, save_artifact

    art = default_artifact()
    negated = dataclasses.replace(art, dense_weights=-art.dense_weights, bias=-art.bias)
    save_artifact(negated, tmp_path / "mine")
    policy = Policy.model_validate(
        {
            "large": {"upstream": {"baseUrl": "http://l/v1", "model": "l"}},
            "small": {
                "versions": [{"name": "v1", "upstream": {"baseUrl": "http://s/v1", "model": "s"}}]
            },
            "complexity": {"scorerArtifact": str(tmp_path / "mine")},
        }
    )
    loaded = load_scorer(policy)
    assert (loaded.scorer.name, loaded.fallback_reason) == ("auto", None)
    assert loaded.artifact_sha256 != default_artifact_sha256()
    question = "Which gas is most abundant in air?\nA. Oxygen\nB. Nitrogen\nC. Argon"
    assert isinstance(loaded.scorer, AutoScorer)
    assert loaded.scorer.score(question) != pytest.approx(load_default().score(question))
    assert loaded.scorer.score("hi") == pytest.approx(AutoScorer(load_default()).score("hi"))


def _embedding_artifact(path: Path) -> None:
    """A learned artifact of the ``embedding`` featurizer (MiniLM, then the text
    features), its weights zero: what its scores are does not matter here, what one costs
    does."""
    import dataclasses

    from hybridroute_router.scorers.learned import default_artifact, save_artifact

    art = default_artifact()
    dense = 384 + art.hidden_weights.shape[0]
    hidden = np.zeros((dense, art.hidden_weights.shape[1]))
    save_artifact(dataclasses.replace(art, featurizer="embedding", hidden_weights=hidden), path)


def test_a_slow_learned_branch_makes_auto_score_off_the_event_loop(tmp_path: Path) -> None:
    """The registry times a scorer's call when it loads (over 1 ms: scored in a worker
    thread). ``auto`` with an embedding artifact is slow only on its learned branch, so
    the load must time that branch too (and load the model there, not on the event loop
    at the first exam question); unavailable, it is a load failure, not one per request."""
    from hybridroute_router.scorers.embedding import embedding_available

    _embedding_artifact(tmp_path / "emb")
    policy = Policy.model_validate(
        {
            "large": {"upstream": {"baseUrl": "http://l/v1", "model": "l"}},
            "small": {
                "versions": [{"name": "v1", "upstream": {"baseUrl": "http://s/v1", "model": "s"}}]
            },
            "complexity": {"scorer": "auto", "scorerArtifact": str(tmp_path / "emb")},
        }
    )
    loaded = load_scorer(policy)
    if embedding_available():
        assert (loaded.scorer.name, loaded.fallback_reason) == ("auto", None)
        assert loaded.offload  # MiniLM on the learned branch: milliseconds a call
    else:
        assert loaded.fallback_reason is not None
        assert "embeddings need onnxruntime" in loaded.fallback_reason
