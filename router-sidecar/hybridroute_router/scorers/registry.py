"""Pick the scorer named in ``policy.complexity.scorer`` and load its artifacts.

The auto (the policy default), learned and similarity scorers live in optional modules
(``scorers.auto``, ``scorers.learned``, ``scorers.similarity``) that need
numpy/onnxruntime. They are imported lazily, here only; each exposes
``from_policy(policy) -> Scorer``.

Artifacts are files: the learned scorer's ``NAME.json`` + ``NAME.npz``
(``complexity.scorerArtifact``, else the shipped default) and the similarity examples
(``similarity.examplesFile``, JSON lines added to the inline examples). When the policy
gives their sha256 (the operator does, from the ConfigMaps it mounts), files with another
hash are not used. Whatever fails (a module, its dependencies, an artifact: missing,
malformed, of another hash), the router keeps serving: with the last good scorer when
there is one (``kept_last_good``), else the heuristic scorer, and reports why (logged,
``/readyz``, explain, ``hybridroute_scorer_fallback``).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path

from hybridroute_policy import ExamplePolicy, Policy
from pydantic import ValidationError

from hybridroute_router.scorers.base import Scorer
from hybridroute_router.scorers.heuristic import HeuristicScorer

log = logging.getLogger("hybridroute.router.scorers")

OFFLOAD_ABOVE_SECONDS = 0.001
MAX_FILE_EXAMPLES = 20_000
_PROBE = "Explain, step by step, how a hash map handles collisions, with a short example."
_EXAM_WARM_UP = "Which is a prime number?\nA. 4\nB. 7\nC. 9\nD. 12"
_EXAM_PROBE = (
    "Which gas makes up most of Earth's atmosphere?\n"
    "A. Oxygen\nB. Nitrogen\nC. Argon\nD. Carbon dioxide"
)
"""A scorer is warmed up and then timed, when it loads, on a request and on an exam
question (other texts each time: embeddings are cached), so ``auto`` is on both of its
branches, the learned one included."""

_MODULES = {
    "auto": "hybridroute_router.scorers.auto",
    "learned": "hybridroute_router.scorers.learned",
    "similarity": "hybridroute_router.scorers.similarity",
}


class ArtifactProblem(ValueError):
    """An artifact file the policy names cannot be used (unreadable, malformed, or not
    the content the policy expects)."""


@dataclass(frozen=True, slots=True)
class LoadedScorer:
    scorer: Scorer
    requested: str
    fallback_reason: str | None = None
    """Why the policy's scorer or artifact is not in use (None when it is)."""
    offload: bool = False
    """Score in a worker thread: one call takes longer than ``OFFLOAD_ABOVE_SECONDS``."""
    artifact_sha256: str | None = None
    """sha256 of the learned artifact in use (``NAME.json`` + ``NAME.npz`` bytes)."""
    examples_sha256: str | None = None
    """sha256 of the similarity examples file in use."""
    kept_last_good: bool = False
    """The policy's scorer could not load: this is the one loaded for an earlier policy."""


def artifact_files(path: str | Path) -> tuple[Path, Path]:
    """``NAME.json`` and ``NAME.npz`` of a learned artifact path (with or without suffix)."""
    base = Path(path)
    if base.suffix in {".json", ".npz"}:
        base = base.with_suffix("")
    return base.with_suffix(".json"), base.with_suffix(".npz")


def content_sha256(paths: Sequence[Path]) -> str:
    """sha256 of the files' bytes concatenated in order (``cat A B | sha256sum``)."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(path.read_bytes())
        except OSError as exc:
            raise ArtifactProblem(f"cannot read {path}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


@cache
def default_artifact_sha256() -> str:
    """sha256 of the learned artifact shipped inside this package."""
    folder = resources.files("hybridroute_router.scorers")
    digest = hashlib.sha256()
    for suffix in (".json", ".npz"):
        digest.update((folder / f"default-scorer{suffix}").read_bytes())
    return digest.hexdigest()


def watched_files(policy: Policy) -> list[Path]:
    """The artifact files a policy's scorer reads (what a retry watches for changes)."""
    requested = str(policy.complexity.scorer)
    if requested == "heuristic":
        return []
    files: list[Path] = []
    if policy.complexity.scorer_artifact:
        files.extend(artifact_files(policy.complexity.scorer_artifact))
    if requested == "similarity" and policy.similarity.examples_file:
        files.append(Path(policy.similarity.examples_file))
    return files


def _checked(paths: Sequence[Path], expected: str | None) -> str:
    actual = content_sha256(paths)
    if expected is not None and actual != expected:
        raise ArtifactProblem(
            f"{', '.join(map(str, paths))} hold sha256 {actual[:12]}, the policy expects "
            f"{expected[:12]} (a ConfigMap volume the kubelet has not refreshed yet?)"
        )
    return actual


def read_examples(data: bytes, source: str) -> list[ExamplePolicy]:
    """JSON lines ``{"text": ..., "label": "simple"|"hard"}``; blank lines are skipped."""
    examples = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            examples.append(ExamplePolicy.model_validate(json.loads(line)))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "row"
            raise ArtifactProblem(f"{source} line {number}: {where}: {err['msg']}") from exc
        except ValueError as exc:  # not JSON
            raise ArtifactProblem(f"{source} line {number}: not JSON ({exc})") from exc
    if len(examples) > MAX_FILE_EXAMPLES:
        raise ArtifactProblem(f"{source}: {len(examples)} examples, at most {MAX_FILE_EXAMPLES}")
    return examples


def scorer_inputs(policy: Policy) -> tuple[Policy, str | None, str | None]:
    """The policy the scorer factory sees (the examples file's examples appended to the
    inline ones) and the sha256 of the learned artifact and of the examples file in use.
    Raises :class:`ArtifactProblem`."""
    requested = str(policy.complexity.scorer)
    c, s = policy.complexity, policy.similarity
    if c.scorer_artifact:
        files = artifact_files(c.scorer_artifact)
        if not all(f.is_file() for f in files):
            raise ArtifactProblem(f"{files[0]} and {files[1]} must both exist")
        artifact_sha = _checked(files, c.scorer_artifact_sha256)
    else:
        artifact_sha = default_artifact_sha256()
    if requested != "similarity" or not s.examples_file:
        return policy, artifact_sha, None
    path = Path(s.examples_file)
    examples_sha = _checked([path], s.examples_sha256)
    try:
        extra = read_examples(path.read_bytes(), str(path))
    except OSError as exc:
        raise ArtifactProblem(f"cannot read {path}: {exc.strerror or exc}") from exc
    similarity = s.model_copy(update={"examples": [*s.examples, *extra]})
    return policy.model_copy(update={"similarity": similarity}), artifact_sha, examples_sha


def load_scorer(policy: Policy, previous: LoadedScorer | None = None) -> LoadedScorer:
    """The policy's scorer; ``previous`` (the scorer in force) is kept when the policy's
    cannot load and ``previous`` was itself a working learned or similarity scorer."""
    requested = str(policy.complexity.scorer)
    if requested == "heuristic":
        return LoadedScorer(HeuristicScorer(), requested)
    module_name = _MODULES.get(requested)
    if module_name is None:
        return _fallback(requested, f"unknown scorer {requested!r}", previous)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return _fallback(requested, f"{module_name} unavailable: {exc}", previous)
    factory: Callable[[Policy], Scorer] | None = getattr(module, "from_policy", None)
    if factory is None:
        return _fallback(requested, f"{module_name} has no from_policy(policy)", previous)
    try:
        inputs, artifact_sha, examples_sha = scorer_inputs(policy)
        scorer = factory(inputs)
        probe = float(scorer.score("hello"))  # first calls: warm-up (lazy model loads)
        scorer.score(_EXAM_WARM_UP)
        elapsed = 0.0
        for prompt in (_PROBE, _EXAM_PROBE):
            started = time.perf_counter()
            scorer.score(prompt)
            elapsed = max(elapsed, time.perf_counter() - started)
    except ArtifactProblem as exc:
        return _fallback(requested, str(exc), previous)
    except Exception as exc:  # any failure to build or run the scorer: keep serving
        return _fallback(requested, f"{requested} scorer failed to load: {exc!r}", previous)
    if not 0.0 <= probe <= 1.0:
        return _fallback(requested, f"{requested} scorer returned {probe} outside [0, 1]", previous)
    return LoadedScorer(
        scorer,
        requested,
        offload=elapsed > OFFLOAD_ABOVE_SECONDS,
        artifact_sha256=artifact_sha,
        examples_sha256=examples_sha,
    )


def _usable(previous: LoadedScorer | None) -> bool:
    return (
        previous is not None
        and previous.scorer.name != "heuristic"
        and (previous.fallback_reason is None or previous.kept_last_good)
    )


def _fallback(requested: str, reason: str, previous: LoadedScorer | None) -> LoadedScorer:
    if previous is not None and _usable(previous):
        sha = (previous.artifact_sha256 or "")[:12]
        log.warning(
            "scorer %r unavailable, keeping the last good %s scorer (artifact %s): %s",
            requested,
            previous.scorer.name,
            sha,
            reason,
        )
        why = f"{reason}; keeping the last good {previous.scorer.name} scorer (artifact {sha})"
        return replace(previous, requested=requested, fallback_reason=why, kept_last_good=True)
    log.warning("scorer %r unavailable, using heuristic: %s", requested, reason)
    return LoadedScorer(HeuristicScorer(), requested, reason)
