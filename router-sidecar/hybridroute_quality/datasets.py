"""Labeled routing data: which queries each model answered well.

Two formats, chosen by file extension:

- RouteLLM CSV (``.csv``): header ``prompt,<small model>,<large model>``, the model
  columns ``True``/``False`` (or 0/1, or a 0-1 quality). The subject (``group``) is the
  file name without a leading ``mmlu_``.
- JSONL (``.jsonl``/``.json``): one object per line, ``{"prompt": str, "small": q,
  "large": q}`` with qualities in [0, 1]; optional ``small_logprob`` (mean token logprob
  of the small model's answer, <= 0), ``prompt_tokens``, ``small_completion_tokens``,
  ``large_completion_tokens`` and ``group``.

A malformed row becomes a :class:`RowError` carrying its file and line number; loading
goes on with the rest unless ``strict`` is set, then the first error raises.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_TRUE = {"true": 1.0, "1": 1.0, "yes": 1.0, "false": 0.0, "0": 0.0, "no": 0.0}
_INT_FIELDS = ("prompt_tokens", "small_completion_tokens", "large_completion_tokens")


@dataclass(frozen=True, slots=True)
class Row:
    """One labeled query: the quality (0-1) of each model's answer."""

    prompt: str
    small: float
    large: float
    group: str = ""
    small_logprob: float | None = None
    prompt_tokens: int | None = None
    small_completion_tokens: int | None = None
    large_completion_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class DataError(ValueError):
    """A malformed row in strict mode, or a file that cannot be read at all."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


@dataclass(slots=True)
class Dataset:
    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def extend(self, other: Dataset) -> None:
        self.rows.extend(other.rows)
        self.errors.extend(other.errors)


def _quality(raw: object, what: str) -> float:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return _TRUE[text]
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"{what} must be True/False or a number in [0, 1], got {raw!r}"
            ) from None
    else:
        raise ValueError(f"{what} must be True/False or a number in [0, 1], got {raw!r}")
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ValueError(f"{what} must be in [0, 1], got {value}")
    return value


def _subject(path: Path) -> str:
    stem = path.stem
    return stem[len("mmlu_") :] if stem.startswith("mmlu_") else stem


def _csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        start = 1
        for record in reader:
            yield start, record
            start = reader.line_num + 1


def read_csv(path: Path) -> Dataset:
    data = Dataset()
    group = _subject(path)
    records = _csv_records(path)
    header = next(records, None)
    if header is None or len(header[1]) != 3 or header[1][0].strip().lower() != "prompt":
        data.errors.append(
            RowError(str(path), 1, "header must be: prompt,<small model>,<large model>")
        )
        return data
    for line, record in records:
        if not record:
            continue
        if len(record) != 3:
            data.errors.append(RowError(str(path), line, f"expected 3 columns, got {len(record)}"))
            continue
        try:
            if not record[0].strip():
                raise ValueError("empty prompt")
            row = Row(
                prompt=record[0],
                small=_quality(record[1], "small column"),
                large=_quality(record[2], "large column"),
                group=group,
            )
        except ValueError as exc:
            data.errors.append(RowError(str(path), line, str(exc)))
            continue
        data.rows.append(row)
    return data


def _optional_int(obj: dict[str, object], key: str) -> int | None:
    raw = obj.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ValueError(f"{key} must be a non-negative integer, got {raw!r}")
    return raw


def parse_json_row(obj: object, default_group: str) -> Row:
    """One JSONL object as a :class:`Row`; ``ValueError`` saying what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("each line must be a JSON object")
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("'prompt' must be a non-empty string")
    for key in ("small", "large"):
        if key not in obj:
            raise ValueError(f"missing {key!r} (quality 0-1 of the {key} model's answer)")
    logprob = obj.get("small_logprob")
    if logprob is not None and (
        isinstance(logprob, bool) or not isinstance(logprob, int | float) or logprob > 0
    ):
        raise ValueError(f"'small_logprob' must be a number <= 0, got {logprob!r}")
    group = obj.get("group", default_group)
    counts = {key: _optional_int(obj, key) for key in _INT_FIELDS}
    return Row(
        prompt=prompt,
        small=_quality(obj["small"], "'small'"),
        large=_quality(obj["large"], "'large'"),
        group=str(group),
        small_logprob=None if logprob is None else float(logprob),
        **counts,
    )


def read_jsonl(path: Path) -> Dataset:
    data = Dataset()
    group = path.stem
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = parse_json_row(json.loads(text), group)
            except json.JSONDecodeError as exc:
                data.errors.append(RowError(str(path), number, f"invalid JSON: {exc.msg}"))
                continue
            except ValueError as exc:
                data.errors.append(RowError(str(path), number, str(exc)))
                continue
            data.rows.append(row)
    return data


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders as their ``*.csv``/``*.jsonl`` files in name order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.iterdir() if p.suffix in {".csv", ".jsonl", ".json"})
            )
        else:
            files.append(path)
    return files


def load(paths: Iterable[str | Path], *, strict: bool = False) -> Dataset:
    """Every row of every file; malformed rows are collected (or raised when strict)."""
    data = Dataset()
    for path in expand(paths):
        if not path.is_file():
            raise DataError([RowError(str(path), 0, "no such file")])
        part = read_csv(path) if path.suffix == ".csv" else read_jsonl(path)
        if strict and part.errors:
            raise DataError(part.errors[:1])
        data.extend(part)
    return data
