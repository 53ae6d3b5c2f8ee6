"""Labeled rows and the errors of reading them (shared by every loader)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


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
    source: str = ""
    """The benchmark the row comes from (held out as a whole by ``cv --split sources``)."""
    pair: str = ""
    """``small>large`` model names (held out as a whole by ``cv --split pairs``)."""


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
