"""The learned scorer artifact: same scores in the router as at training time."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hybridroute_policy import Policy
from hybridroute_quality.datasets import Row
from hybridroute_quality.train import TrainOptions, train
from hybridroute_router.scorers.base import Scorer
from hybridroute_router.scorers.embedding import embedding_available
from hybridroute_router.scorers.learned import (
    ArtifactError,
    Featurizer,
    load_artifact,
    load_default,
    load_scorer,
    save_artifact,
)
from hybridroute_router.scorers.registry import load_scorer as registry_load

pytestmark = pytest.mark.unit

EASY = ["What is the capital of France?", "Say hello.", "Name a colour.", "What is 2 + 2?"]
HARD = [
    "Prove that the sum of the reciprocals of the primes diverges, then estimate the rate.",
    "Derive the closed form of the integral of x^2 e^{-x} from 0 to infinity, step by step.",
    "Compute the eigenvalues of the 3x3 matrix [[2,1,0],[1,2,1],[0,1,2]] and explain why.",
    "Given a red-black tree, prove its height is at most 2 log2(n + 1) and derive the bound.",
]


def _rows() -> list[Row]:
    rows = []
    for i in range(8):
        rows += [Row(f"{p} ({i})", small=1.0, large=1.0, group=f"g{i % 3}") for p in EASY]
        rows += [Row(f"{p} ({i})", small=0.0, large=1.0, group=f"g{i % 3}") for p in HARD]
    return rows


def _policy(**complexity: object) -> Policy:
    return Policy.model_validate(
        {
            "large": {"upstream": {"baseUrl": "http://l:8000/v1", "model": "big"}},
            "small": {
                "versions": [
                    {"name": "v1", "upstream": {"baseUrl": "http://s:8000/v1", "model": "s"}}
                ]
            },
            "complexity": complexity,
        }
    )


@pytest.mark.parametrize(
    ("featurizer", "hidden"), [("features", 16), ("hashed", 0), ("hashed", 8), ("features", 0)]
)
def test_saved_artifact_gives_the_router_the_training_time_scores(
    tmp_path: Path, featurizer: Featurizer, hidden: int
) -> None:
    rows = _rows()
    options = TrainOptions(featurizer=featurizer, hidden=hidden, show_progress=False)
    art, train_scores = train(rows, options)
    save_artifact(art, tmp_path / "scorer")
    scorer = load_scorer(tmp_path / "scorer.json")
    assert scorer.artifact.featurizer == featurizer
    assert scorer.artifact.hidden_weights.shape[1] == hidden
    router_scores = np.array([scorer.score(r.prompt) for r in rows])
    np.testing.assert_allclose(router_scores, train_scores, atol=1e-6)
    assert isinstance(scorer, Scorer)


def test_trained_scorer_ranks_hard_prompts_above_easy_ones(tmp_path: Path) -> None:
    art, _ = train(_rows(), TrainOptions(show_progress=False))
    save_artifact(art, tmp_path / "s")
    scorer = load_scorer(tmp_path / "s")
    easy = [scorer.score(p) for p in EASY]
    hard = [scorer.score(p) for p in HARD]
    assert min(hard) > max(easy)
    assert all(0.0 <= s <= 1.0 for s in easy + hard)


def test_tampered_weights_are_rejected(tmp_path: Path) -> None:
    art, _ = train(_rows(), TrainOptions(show_progress=False))
    _, weights = save_artifact(art, tmp_path / "s")
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ArtifactError, match="checksum"):
        load_artifact(tmp_path / "s")


def test_artifact_of_another_format_version_is_rejected(tmp_path: Path) -> None:
    art, _ = train(_rows(), TrainOptions(show_progress=False))
    meta, _ = save_artifact(art, tmp_path / "s")
    raw = json.loads(meta.read_text())
    raw["formatVersion"] = 99
    meta.write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="v1 or v2 artifact"):
        load_artifact(tmp_path / "s")


def test_shipped_default_is_small_and_scores_in_unit_interval() -> None:
    scorer = load_default()
    folder = Path(sys.modules["hybridroute_router.scorers.learned"].__file__ or "").parent
    size = sum(p.stat().st_size for p in folder.glob("default-scorer.*"))
    assert size < 50_000
    assert scorer.artifact.featurizer == "features"
    long_math = (
        "Let f(x) = x^3 - 6x^2 + 11x - 6. Find all real roots and prove no others exist. " * 3
    )
    assert 0.0 <= scorer.score("hi") < scorer.score(long_math) <= 1.0


def test_registry_loads_the_default_learned_scorer_from_the_policy() -> None:
    loaded = registry_load(_policy(scorer="learned"))
    assert loaded.fallback_reason is None
    assert loaded.scorer.name == "learned"


def test_registry_loads_an_artifact_named_in_the_policy(tmp_path: Path) -> None:
    art, _ = train(_rows(), TrainOptions(show_progress=False))
    save_artifact(art, tmp_path / "custom")
    loaded = registry_load(_policy(scorer="learned", scorerArtifact=str(tmp_path / "custom.json")))
    assert loaded.fallback_reason is None
    direct = load_scorer(tmp_path / "custom")
    assert loaded.scorer.score(HARD[0]) == direct.score(HARD[0])


def test_registry_falls_back_when_the_artifact_is_missing(tmp_path: Path) -> None:
    loaded = registry_load(_policy(scorer="learned", scorerArtifact=str(tmp_path / "none.json")))
    assert loaded.scorer.name == "heuristic"
    assert loaded.fallback_reason is not None
    assert "must both exist" in loaded.fallback_reason


NO_ONNX = textwrap.dedent(
    """
    import sys
    # As if not installed: import raises ImportError, find_spec returns None.
    sys.modules["onnxruntime"] = None
    sys.modules["tokenizers"] = None
    from hybridroute_router.scorers import embedding, similarity
    from hybridroute_router.scorers.learned import load_default
    assert not embedding.embedding_available()
    print(round(load_default().score("Prove Fermat's little theorem."), 6))
    name, _ = similarity.choose_embedding()
    print(name)
    try:
        embedding.MiniLMEmbedder().embed("x")
    except embedding.EmbeddingUnavailableError as exc:
        print("unavailable:", exc)
    assert sys.modules["onnxruntime"] is None
    """
)


def test_default_and_hashed_fallback_work_without_onnxruntime() -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_ONNX], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    score, name, unavailable = done.stdout.splitlines()
    assert 0.0 <= float(score) <= 1.0
    assert float(score) == pytest.approx(
        load_default().score("Prove Fermat's little theorem."), abs=1e-6
    )
    assert name == "hashed-ngrams-512"
    assert unavailable.startswith("unavailable: embeddings need onnxruntime")


@pytest.mark.skipif(not embedding_available(), reason="MiniLM packages not installed")
def test_embedding_artifact_gives_the_router_the_training_time_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRIDROUTE_CACHE", str(tmp_path / "cache"))
    rows = _rows()[:24]
    art, train_scores = train(rows, TrainOptions(featurizer="embedding", show_progress=False))
    assert list((tmp_path / "cache").glob("embeddings-*.npz"))  # embeddings cached on disk
    save_artifact(art, tmp_path / "emb")
    scorer = load_scorer(tmp_path / "emb")
    assert scorer.artifact.featurizer == "embedding"
    router_scores = np.array([scorer.score(r.prompt) for r in rows])
    np.testing.assert_allclose(router_scores, train_scores, atol=1e-6)


MMLU = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "routing-eval" / "mmlu"


def test_shipped_default_scores_a_calibrated_probability_that_the_small_model_fails() -> None:
    if not MMLU.is_dir():
        pytest.skip(f"the shared RouteLLM data is not at {MMLU}")
    from hybridroute_quality.datasets import load

    rows = load([MMLU / "astronomy.csv", MMLU / "high_school_physics.csv"]).rows
    scorer = load_default()
    assert scorer.artifact.probability is not None
    assert scorer.artifact.raw_kind == "difficulty"
    predicted = np.array([scorer.score(r.prompt) for r in rows])
    failed = 1.0 - np.array([r.small for r in rows])
    # as many failures as the probabilities predict (Mixtral here: about 3 in 10)...
    assert predicted.mean() == pytest.approx(failed.mean(), abs=0.08)
    # ...and more of them where it predicts more
    high = predicted >= np.median(predicted)
    assert failed[high].mean() > failed[~high].mean()


def test_version_1_artifacts_still_load_and_score_as_ranks(tmp_path: Path) -> None:
    options = TrainOptions(show_progress=False, raw_kind="gain", calibrate=False)
    art, train_scores = train(_rows(), options)
    meta, _ = save_artifact(art, tmp_path / "v1")
    raw = json.loads(meta.read_text())
    for key in ("heuristicWeight", "rawScore", "probability"):
        del raw[key]
    raw["formatVersion"] = 1
    meta.write_text(json.dumps(raw))
    scorer = load_scorer(tmp_path / "v1")
    assert scorer.artifact.probability is None
    assert scorer.artifact.raw_kind == "gain"
    np.testing.assert_allclose([scorer.score(r.prompt) for r in _rows()], train_scores, atol=1e-6)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("probability", {"target": "large_ok", "a": 1.0, "b": 0.0}, "'probability' must be"),
        ("probability", {"target": "small_fails", "a": "x", "b": 0.0}, "'probability' must be"),
        ("rawScore", "entropy", "unknown rawScore 'entropy'"),
        ("heuristicProbability", {"a": 1.0, "b": 0.0}, "'heuristicProbability' must be"),
        ("heuristicWeight", 0.8, "weights must be >= 0, sum <= 1"),
    ],
)
def test_a_malformed_calibration_is_refused(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    art, _ = train(_rows(), TrainOptions(show_progress=False))
    meta, _ = save_artifact(art, tmp_path / "s")
    raw = json.loads(meta.read_text())
    raw[key] = value
    meta.write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match=message):
        load_artifact(tmp_path / "s")
