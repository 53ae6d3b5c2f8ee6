"""A tqdm progress bar on long runs, silent on short ones or when disabled."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sized
from typing import TypeVar

T = TypeVar("T")

#: Below this many items no bar is drawn.
MIN_ITEMS = 500


def progress(items: Iterable[T], *, desc: str, enabled: bool = True) -> Iterator[T]:
    total = len(items) if isinstance(items, Sized) else None
    if not enabled or (total is not None and total < MIN_ITEMS):
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=desc, total=total, file=sys.stderr, leave=False)
