"""Multi-model outcomes: one question a line, the correctness of many models, and the
small/large pairs that turn it into routing rows (``routing-train/mmlu-pro/``).

A folder holds two files:

- ``pairs.json``: ``[{"small": MODEL, "large": MODEL}, ...]``;
- ``outcomes.jsonl``: ``{"prompt", "src", "category", "correct": {MODEL: 0 or 1}}`` a
  line (``id`` and other keys are ignored).

Each line becomes one :class:`~hybridroute_quality.rows.Row` per pair, with
``group`` = the line's ``src`` (e.g. ``stemez-Physics``), ``source`` = the folder name
and the ``src`` family (``mmlu-pro/stemez``), ``pair`` = ``small>large``. A pair naming a
model that no line knows is an error of ``pairs.json``; a line without a pair model's
label, or with a label other than 0/1, is reported with its line number and skipped (for
that pair only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hybridroute_quality.rows import DataError, Dataset, Row, RowError

PAIRS_FILE = "pairs.json"
OUTCOMES_FILE = "outcomes.jsonl"


@dataclass(frozen=True, slots=True)
class Pair:
    small: str
    large: str

    @property
    def name(self) -> str:
        return f"{self.small}>{self.large}"


def read_pairs(path: Path) -> list[Pair]:
    """The pairs of a ``pairs.json``; :class:`DataError` naming the bad entry."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError([RowError(str(path), exc.lineno, f"invalid JSON: {exc.msg}")]) from None
    if not isinstance(raw, list) or not raw:
        raise DataError([RowError(str(path), 1, 'must be a list of {"small", "large"}')])
    pairs: list[Pair] = []
    for number, entry in enumerate(raw, start=1):
        ok = isinstance(entry, dict) and all(
            isinstance(entry.get(k), str) and entry[k].strip() for k in ("small", "large")
        )
        if not ok:
            raise DataError(
                [RowError(str(path), 0, f"pair {number}: needs non-empty 'small' and 'large'")]
            )
        pairs.append(Pair(entry["small"], entry["large"]))
    return pairs


def _source(folder: Path, src: str) -> str:
    family = src.split("-", 1)[0] if src else ""
    return f"{folder.name}/{family}" if family else folder.name


def _label(correct: dict[str, object], model: str) -> float:
    if model not in correct:
        raise ValueError(f"no outcome for model {model!r}")
    value = correct[model]
    if isinstance(value, bool) or value not in (0, 1):
        raise ValueError(f"outcome of {model!r} must be 0 or 1, got {value!r}")
    return 1.0 if value == 1 else 0.0


def _parse_line(text: str) -> tuple[str, str, dict[str, object]]:
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("each line must be a JSON object")
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("'prompt' must be a non-empty string")
    correct = obj.get("correct")
    if not isinstance(correct, dict):
        raise ValueError("missing 'correct' (an object: model name -> 0 or 1)")
    return prompt, str(obj.get("src", "")), correct


def read_outcomes(folder: Path) -> Dataset:
    """Rows of every pair over every line of ``folder/outcomes.jsonl``."""
    pairs = read_pairs(folder / PAIRS_FILE)
    path = folder / OUTCOMES_FILE
    if not path.is_file():
        raise DataError([RowError(str(path), 0, "no such file")])
    data = Dataset()
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                prompt, src, correct = _parse_line(text)
            except json.JSONDecodeError as exc:
                data.errors.append(RowError(str(path), number, f"invalid JSON: {exc.msg}"))
                continue
            except ValueError as exc:
                data.errors.append(RowError(str(path), number, str(exc)))
                continue
            seen.update(correct)
            for pair in pairs:
                try:
                    small, large = _label(correct, pair.small), _label(correct, pair.large)
                except ValueError as exc:
                    data.errors.append(RowError(str(path), number, f"pair {pair.name}: {exc}"))
                    continue
                row = Row(prompt, small, large, src, source=_source(folder, src), pair=pair.name)
                data.rows.append(row)
    unknown = sorted({m for p in pairs for m in (p.small, p.large)} - seen)
    if unknown and seen:
        known = ", ".join(sorted(seen))
        raise DataError(
            [
                RowError(
                    str(folder / PAIRS_FILE),
                    _line_of(folder / PAIRS_FILE, model),
                    f"unknown model {model!r}: no line of {OUTCOMES_FILE} has its outcome "
                    f"(known: {known})",
                )
                for model in unknown
            ]
        )
    return data


def _line_of(path: Path, model: str) -> int:
    """The first line of ``path`` naming ``model`` as a JSON string (0: none)."""
    needle = json.dumps(model)
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in text:
            return number
    return 0
