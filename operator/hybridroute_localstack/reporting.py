"""Log tails for pytest reports: what a failing test shows of the components it used."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable


@runtime_checkable
class HasLogTails(Protocol):
    def log_tails(self, lines: int = 40) -> dict[str, str]: ...


def log_sections(fixture_values: Mapping[str, object] | Iterable[object]) -> list[tuple[str, str]]:
    """``(title, text)`` report sections for every fixture value that keeps logs.

    A value shared by several fixtures (``control_plane`` and ``cluster``) is listed once.
    """
    values = fixture_values.values() if isinstance(fixture_values, Mapping) else fixture_values
    sections: list[tuple[str, str]] = []
    seen: set[int] = set()
    for value in values:
        if not isinstance(value, HasLogTails) or id(value) in seen:
            continue
        seen.add(id(value))
        sections.extend((f"{name} log (tail)", text) for name, text in value.log_tails().items())
    return sections
