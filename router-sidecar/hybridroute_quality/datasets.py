"""Labeled routing data: which queries each model answered well.

Two formats, chosen by file extension:

- RouteLLM CSV (``.csv``): header ``prompt,<small model>,<large model>``, the model
  columns ``True``/``False`` (or 0/1, or a 0-1 quality). The subject (``group``) is the
  file name without a leading ``mmlu_``.
- JSONL (``.jsonl``/``.json``): one object per line, ``{"prompt": str, "small": q,
  "large": q}`` with qualities in [0, 1]; optional ``small_logprob`` (mean token logprob
  of the small model's answer, <= 0), ``prompt_tokens``, ``small_completion_tokens``,
  ``large_completion_tokens``, ``group`` and ``source``.
- Multi-model outcomes (a folder holding ``pairs.json`` and ``outcomes.jsonl``, as in
  ``routing-train/mmlu-pro/``): each question's correctness for many models, turned into
  one row per small/large pair (:mod:`.outcomes`).

Every row carries a ``source`` (the benchmark it comes from: the CSV's folder, the
JSONL's ``source`` or file name, the outcomes' ``src`` family) and a ``pair`` (the two
models' names) so that cross-validation can hold out whole sources and model pairs.

A malformed row becomes a :class:`RowError` carrying its file and line number; loading
goes on with the rest unless ``strict`` is set, then the first error raises.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

from hybridroute_quality.outcomes import PAIRS_FILE, read_outcomes
from hybridroute_quality.rows import DataError, Dataset, Row, RowError

__all__ = ["PAIRS_FILE", "DataError", "Dataset", "Row", "RowError", "expand", "load"]

_TRUE = {"true": 1.0, "1": 1.0, "yes": 1.0, "false": 0.0, "0": 0.0, "no": 0.0}
_INT_FIELDS = ("prompt_tokens", "small_completion_tokens", "large_completion_tokens")


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
    source = path.parent.name or group
    records = _csv_records(path)
    header = next(records, None)
    if header is None or len(header[1]) != 3 or header[1][0].strip().lower() != "prompt":
        data.errors.append(
            RowError(str(path), 1, "header must be: prompt,<small model>,<large model>")
        )
        return data
    pair = f"{header[1][1].strip()}>{header[1][2].strip()}"
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
                source=source,
                pair=pair,
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
    source = obj.get("source", default_group)
    pair = obj.get("pair", "")
    counts = {key: _optional_int(obj, key) for key in _INT_FIELDS}
    return Row(
        prompt=prompt,
        small=_quality(obj["small"], "'small'"),
        large=_quality(obj["large"], "'large'"),
        group=str(group),
        small_logprob=None if logprob is None else float(logprob),
        source=str(source),
        pair=str(pair),
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


def _is_outcomes(path: Path) -> bool:
    return path.is_dir() and (path / PAIRS_FILE).is_file()


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; an outcomes folder (with ``pairs.json``) as itself; other folders
    as their ``*.csv``/``*.jsonl`` files and outcomes sub-folders, in name order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if _is_outcomes(path):
            files.append(path)
        elif path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.suffix in {".csv", ".jsonl", ".json"} or _is_outcomes(p)
                )
            )
        else:
            files.append(path)
    return files


def load(paths: Iterable[str | Path], *, strict: bool = False) -> Dataset:
    """Every row of every file; malformed rows are collected (or raised when strict)."""
    data = Dataset()
    for path in expand(paths):
        if _is_outcomes(path):
            part = read_outcomes(path)
        elif not path.is_file():
            raise DataError([RowError(str(path), 0, "no such file")])
        else:
            part = read_csv(path) if path.suffix == ".csv" else read_jsonl(path)
        if strict and part.errors:
            raise DataError(part.errors[:1])
        data.extend(part)
    return data
