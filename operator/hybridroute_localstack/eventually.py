"""Polling with a deadline: the way tests wait for a condition (never a bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class NotYet(AssertionError):
    """The condition did not hold before the deadline."""


def eventually(
    check: Callable[[], T | None],
    what: str,
    timeout: float = 30.0,
    interval: float = 0.2,
) -> T:
    """Call ``check`` until it returns something truthy, and return that value.

    Raises :class:`NotYet` naming ``what`` (and the last exception ``check`` raised,
    if any) once ``timeout`` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
        except Exception as error:
            last_error, value = error, None
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise NotYet(f"not {what} within {timeout:.0f}s{detail}")
        time.sleep(interval)
