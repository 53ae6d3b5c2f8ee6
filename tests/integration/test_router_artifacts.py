"""Scorer artifacts and similarity examples from files, as the operator mounts them from
ConfigMaps: the policy names the files and their sha256; a changed artifact with its new
hash swaps the scorer, a broken one keeps the last good scorer, and a policy that arrives
before its files (the kubelet refreshes ConfigMap volumes late) takes effect when they
do. The router runs with its own CLI wiring on loopback."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from router_harness import RouterHandle, fake_upstream, policy_doc, running_router, wait_for

pytestmark = pytest.mark.integration

PROMPT = "Prove that there are infinitely many primes, then give a short example."


@pytest.fixture
def upstreams() -> Iterator[tuple[str, str]]:
    with fake_upstream("large", "large") as large, fake_upstream("small", "small") as small:
        yield large[1], small[1]


def sha256(*files: Path) -> str:
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def install(src: Path, dest: Path) -> str:
    """Copy an artifact (``src``.json/.npz) to ``dest``.json/.npz atomically per file
    (write + rename, like the kubelet's swap); returns its sha256."""
    for suffix in (".json", ".npz"):
        tmp = dest.with_suffix(suffix + ".tmp")
        shutil.copyfile(src.with_suffix(suffix), tmp)
        tmp.replace(dest.with_suffix(suffix))
    return sha256(dest.with_suffix(".json"), dest.with_suffix(".npz"))


@pytest.fixture
def artifacts(tmp_path: Path) -> dict[str, Path]:
    """Three artifacts: the shipped default, one with its two heads negated (scores
    differ), and a broken one (weights that are not an npz file)."""
    from hybridroute_router.scorers.learned import default_artifact, save_artifact

    out = tmp_path / "built"
    out.mkdir()
    folder = resources.files("hybridroute_router.scorers")
    for suffix in (".json", ".npz"):
        (out / f"default{suffix}").write_bytes((folder / f"default-scorer{suffix}").read_bytes())
    art = default_artifact()
    # negated heads: P(right) becomes P(wrong), so the score differs whether the artifact
    # ranks by gain or by difficulty (swapping the heads leaves a difficulty unchanged)
    swapped = dataclasses.replace(art, dense_weights=-art.dense_weights, bias=-art.bias)
    save_artifact(swapped, out / "swapped")
    (out / "broken.json").write_bytes((out / "default.json").read_bytes())
    (out / "broken.npz").write_bytes(b"not an npz archive")
    return {name: out / name for name in ("default", "swapped", "broken")}


def learned_doc(upstreams: tuple[str, str], base: Path, sha: str, **extra: Any) -> dict[str, Any]:
    complexity = {"scorer": "learned", "scorerArtifact": str(base), "scorerArtifactSha256": sha}
    return policy_doc(upstreams[0], {"v1": upstreams[1]}, complexity={**complexity, **extra})


def readyz(r: RouterHandle) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{r.url}/readyz").json()
    return body


def learned_score(r: RouterHandle) -> float:
    body = {"model": "hybrid", "messages": [{"role": "user", "content": PROMPT}]}
    decision = httpx.post(f"{r.url}/v1/route/explain", json=body).json()["decision"]
    return float(decision["scores"][decision["scorer"]])


def scorer_series(r: RouterHandle) -> list[str]:
    text = httpx.get(f"{r.url}/metrics").text
    return [line for line in text.splitlines() if line.startswith("hybridroute_scorer_info{")]


def test_a_changed_artifact_with_its_hash_swaps_the_scorer(
    tmp_path: Path, upstreams: tuple[str, str], artifacts: dict[str, Path]
) -> None:
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    base = mounted / "scorer"
    first = install(artifacts["default"], base)
    with running_router(learned_doc(upstreams, base, first), tmp_path) as r:
        ready = readyz(r)
        assert (ready["scorer"], ready["scorer_artifact_sha256"]) == ("learned", first)
        assert ready["scorer_fallback_reason"] is None
        assert scorer_series(r) == [
            f'hybridroute_scorer_info{{artifact_sha256="{first}",examples_sha256="",'
            f'route="test",scorer="learned"}} 1.0'
        ]
        before = learned_score(r)

        second = install(artifacts["swapped"], base)
        r.write_policy(learned_doc(upstreams, base, second))
        wait_for(lambda: readyz(r)["scorer_artifact_sha256"] == second)
        assert learned_score(r) != pytest.approx(before)
        (series,) = scorer_series(r)  # the old artifact's series is gone
        assert f'artifact_sha256="{second}"' in series


def test_a_broken_artifact_keeps_the_last_good_scorer(
    tmp_path: Path, upstreams: tuple[str, str], artifacts: dict[str, Path]
) -> None:
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    base = mounted / "scorer"
    good = install(artifacts["default"], base)
    with running_router(learned_doc(upstreams, base, good), tmp_path) as r:
        before, policy_before = learned_score(r), readyz(r)["policy"]

        broken = install(artifacts["broken"], base)
        r.write_policy(learned_doc(upstreams, base, broken, threshold=0.7))
        wait_for(lambda: readyz(r)["policy"] != policy_before)  # the rest of the policy applies
        ready = readyz(r)
        assert ready["scorer"] == "learned"
        assert ready["scorer_artifact_sha256"] == good
        assert "keeping the last good learned scorer" in ready["scorer_fallback_reason"]
        assert learned_score(r) == pytest.approx(before)
        metrics = httpx.get(f"{r.url}/metrics").text
        assert 'hybridroute_scorer_fallback{route="test",scorer="learned"} 1.0' in metrics
        assert 'hybridroute_policy_threshold{route="test"} 0.7' in metrics

        fixed = install(artifacts["swapped"], base)  # a later good artifact is taken up
        r.write_policy(learned_doc(upstreams, base, fixed, threshold=0.7))
        wait_for(lambda: readyz(r)["scorer_artifact_sha256"] == fixed)
        assert readyz(r)["scorer_fallback_reason"] is None


def test_a_policy_ahead_of_its_files_takes_effect_when_the_files_arrive(
    tmp_path: Path, upstreams: tuple[str, str], artifacts: dict[str, Path]
) -> None:
    """The operator's policy names the new hash before the kubelet refreshed the mounted
    ConfigMap: the last good scorer serves meanwhile, then the new one without a reload."""
    staged = tmp_path / "staged"
    staged.mkdir()
    expected = install(artifacts["swapped"], staged / "scorer")
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    base = mounted / "scorer"
    old = install(artifacts["default"], base)
    with running_router(learned_doc(upstreams, base, old), tmp_path) as r:
        r.write_policy(learned_doc(upstreams, base, expected))
        wait_for(lambda: readyz(r)["scorer_fallback_reason"] is not None)
        ready = readyz(r)
        assert ready["scorer_artifact_sha256"] == old
        assert "has not refreshed yet" in ready["scorer_fallback_reason"]
        policy = ready["policy"]

        assert install(artifacts["swapped"], base) == expected
        wait_for(lambda: readyz(r)["scorer_artifact_sha256"] == expected)
        assert readyz(r)["scorer_fallback_reason"] is None
        assert readyz(r)["policy"] == policy  # the same policy, now with its scorer


def write_examples(path: Path, label: str) -> str:
    path.write_text(
        f'{{"text": "{PROMPT}", "label": "{label}"}}\n'
        '{"text": "What is the capital of France?", "label": "simple"}\n'
    )
    return sha256(path)


def test_similarity_examples_come_from_the_examples_file(
    tmp_path: Path, upstreams: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRIDROUTE_EMBEDDINGS", "hashed")  # lexical k-NN: no model to load
    examples = tmp_path / "examples.jsonl"

    def doc(sha: str) -> dict[str, Any]:
        similarity = {"examplesFile": str(examples), "examplesSha256": sha, "k": 1, "weight": 1.0}
        return policy_doc(
            upstreams[0],
            {"v1": upstreams[1]},
            complexity={"scorer": "similarity"},
            similarity=similarity,
        )

    hard = write_examples(examples, "hard")
    with running_router(doc(hard), tmp_path) as r:
        assert readyz(r)["scorer_examples_sha256"] == hard
        assert learned_score(r) == pytest.approx(1.0)  # its nearest example is hard

        simple = write_examples(examples, "simple")
        r.write_policy(doc(simple))
        wait_for(lambda: readyz(r)["scorer_examples_sha256"] == simple)
        assert learned_score(r) == pytest.approx(0.0)

        examples.write_text('{"text": "x", "label": "tricky"}\n')  # not simple|hard
        r.write_policy(doc(sha256(examples)))
        wait_for(lambda: readyz(r)["scorer_fallback_reason"] is not None)
        ready = readyz(r)
        assert ready["scorer_examples_sha256"] == simple  # last good kept
        assert "line 1: label" in ready["scorer_fallback_reason"]
        assert learned_score(r) == pytest.approx(0.0)
