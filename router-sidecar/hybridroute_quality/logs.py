"""The router's decision and feedback logs (JSONL, see docs/router.md) as data.

Feedback records become training rows (``small``/``large`` qualities in [0, 1]):

- ``shadow``: ``small = similarity`` of the two answers, ``large = 1.0`` (the large
  answer is the reference);
- ``escalation``: the small model was not confident: ``small = exp(small_mean_logprob)``
  (a soft label), ``large = 1.0``;
- ``user`` on the small model: ``small = score`` (the user's rating), ``large = 1.0``;
  a rating of the large model says nothing about the small one and is skipped.

A record needs its prompt: the ``prompt`` field (``logPrompts: true``) or a prompt in a
separate prompts file whose HMAC-SHA256 under the router's ``--hash-key-file`` secret
matches ``prompt_hmac`` (format v2), or whose sha256 matches ``prompt_sha256`` (v1).
Decision records give the complexity scores of live traffic, to calibrate a threshold on real load,
and, for cascaded requests, whether the cascade escalated (to find where pre-routing pays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridroute_quality.datasets import Dataset, Row, RowError


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, RowError(str(path), number, f"invalid JSON: {exc.msg}")


def prompts_by_sha(path: Path, key: bytes | None = None) -> dict[str, str]:
    """sha256 hex (and, with the router's hash ``key``, HMAC-SHA256 hex) -> prompt, from
    any JSONL whose objects carry a ``prompt``."""
    out: dict[str, str] = {}
    for _, obj in _records(path):
        if isinstance(obj, dict) and isinstance(obj.get("prompt"), str):
            text = obj["prompt"]
            raw = text.encode("utf-8", "surrogatepass")
            out[hashlib.sha256(raw).hexdigest()] = text
            if key is not None:
                out[hmac.new(key, raw, hashlib.sha256).hexdigest()] = text
    return out


@dataclass(slots=True)
class FeedbackRows:
    data: Dataset = field(default_factory=Dataset)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


def _unit(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if 0.0 <= v <= 1.0 else None


def _labels(rec: Mapping[str, Any]) -> tuple[float, float] | str:
    """(small, large) of one record, or the reason it carries no usable label."""
    kind = rec.get("kind")
    if kind == "shadow":
        sim = _unit(rec.get("similarity"))
        return (sim, 1.0) if sim is not None else "shadow without similarity"
    if kind == "escalation":
        lp = rec.get("small_mean_logprob")
        if isinstance(lp, int | float) and not isinstance(lp, bool) and lp <= 0:
            return (math.exp(float(lp)), 1.0)
        return "escalation without small_mean_logprob"
    if kind == "user":
        rating = _unit(rec.get("score"))
        if rec.get("model") != "small":
            return "user rating not of the small model"
        return (rating, 1.0) if rating is not None else "user rating out of range"
    return f"unknown kind {kind!r}"


def feedback_rows(path: Path, prompts: Mapping[str, str] | None = None) -> FeedbackRows:
    """Training rows from a feedback log; what could not be used is counted by reason."""
    out = FeedbackRows()
    for number, rec in _records(path):
        if isinstance(rec, RowError):
            out.data.errors.append(rec)
            continue
        if not isinstance(rec, dict) or "kind" not in rec:
            out.data.errors.append(RowError(str(path), number, "not a feedback record"))
            continue
        labels = _labels(rec)
        if isinstance(labels, str):
            out.skip(labels)
            continue
        prompt = rec.get("prompt")
        if not isinstance(prompt, str):
            digest = rec.get("prompt_hmac") or rec.get("prompt_sha256")
            prompt = (prompts or {}).get(str(digest))
        if not prompt:
            out.skip("no prompt (logPrompts off and no matching --prompts)")
            continue
        out.data.rows.append(Row(prompt=prompt, small=labels[0], large=labels[1], group="feedback"))
    return out


ESCALATED_REASONS = ("low_confidence_escalation", "fallback_large_to_small")
"""A judged cascade answer with these reasons was escalated (the large call failed in
the second: the small answer was served, degraded)."""


@dataclass(frozen=True, slots=True)
class Decision:
    request_id: str
    score: float
    model: str | None
    small_mean_logprob: float | None
    escalated: bool | None = None
    """Cascaded and judged (``small_mean_logprob`` logged): whether it escalated."""
    threshold: float | None = None
    """The complexity threshold in force (``decision.threshold``)."""
    tokens: tuple[int, int] = (0, 0)
    """(prompt, completion) tokens as logged."""
    scorer: str | None = None
    """The scorer that gave ``score`` (read from ``decision.scores``; None: not logged)."""


SCORERS_BESIDE_HEURISTIC = ("auto", "similarity", "learned")
"""The router logs ``scores.heuristic`` always and the policy's scorer's score beside it
(``auto`` also as ``learned`` on its learned branch): the first of these present scored
the request, else the heuristic did (its policy's scorer, or the fallback)."""


def _scorer(decision: Mapping[str, Any]) -> str | None:
    scores = decision.get("scores")
    if not isinstance(scores, dict):
        return None
    found = [name for name in SCORERS_BESIDE_HEURISTIC if name in scores]
    return found[0] if found else ("heuristic" if "heuristic" in scores else None)


def one_scorer(decided: list[Decision]) -> tuple[list[Decision], str | None, dict[str, int]]:
    """The records of the scorer that scored most of them (scores of several scorers are
    on different scales: a threshold is calibrated on one), its name (None: no record
    says), and how many records each scorer scored."""
    counts: dict[str, int] = {}
    for d in decided:
        if d.scorer is not None:
            counts[d.scorer] = counts.get(d.scorer, 0) + 1
    if not counts:
        return decided, None, counts
    name = max(counts, key=lambda k: counts[k])
    return [d for d in decided if d.scorer in (name, None)], name, counts


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _escalated(rec: Mapping[str, Any], decision: Mapping[str, Any]) -> bool | None:
    lp = rec.get("small_mean_logprob")
    judged = isinstance(lp, int | float) and not isinstance(lp, bool)
    if decision.get("cascade") is not True or not judged:
        return None
    return rec.get("reason") in ESCALATED_REASONS


def decisions(path: Path) -> tuple[list[Decision], list[RowError]]:
    """The complexity score of each logged request (records without one are errors)."""
    found: list[Decision] = []
    errors: list[RowError] = []
    for number, rec in _records(path):
        if isinstance(rec, RowError):
            errors.append(rec)
            continue
        decision = rec.get("decision") if isinstance(rec, dict) else None
        score = _unit(decision.get("score")) if isinstance(decision, dict) else None
        if score is None or not isinstance(decision, dict):
            errors.append(RowError(str(path), number, "no decision.score in [0, 1]"))
            continue
        lp = rec.get("small_mean_logprob")
        limit = decision.get("threshold")
        found.append(
            Decision(
                request_id=str(rec.get("request_id", "")),
                score=score,
                model=rec.get("model") if isinstance(rec.get("model"), str) else None,
                small_mean_logprob=float(lp) if isinstance(lp, int | float) else None,
                escalated=_escalated(rec, decision),
                threshold=float(limit) if isinstance(limit, int | float) else None,
                tokens=(_count(rec.get("prompt_tokens")), _count(rec.get("completion_tokens"))),
                scorer=_scorer(decision),
            )
        )
    return found, errors


def labeled_scores(
    decided: list[Decision], feedback_path: Path
) -> list[tuple[float, float, float]]:
    """(score, small, large) of the requests that have a shadow, escalation or user
    feedback record, joined on ``request_id``."""
    by_id = {d.request_id: d.score for d in decided}
    out: list[tuple[float, float, float]] = []
    for _, rec in _records(feedback_path):
        if not isinstance(rec, dict):
            continue
        score = by_id.get(str(rec.get("request_id")))
        labels = _labels(rec)
        if score is not None and not isinstance(labels, str):
            out.append((score, labels[0], labels[1]))
    return out
