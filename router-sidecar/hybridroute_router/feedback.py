"""Feedback records (docs/router.md, "Feedback log format") and the bounded memory of
recent requests that user feedback is joined with."""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FORMAT_VERSION = 2
MAX_COMMENT = 2000


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def prompt_hmac(key: bytes | None, prompt: str) -> str | None:
    """HMAC-SHA256 hex of the prompt keyed by the operator's secret (``--hash-key-file``),
    or None without a key: a plain hash of a short prompt can be reversed by guessing."""
    if key is None:
        return None
    return hmac.new(key, prompt.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Remembered:
    model: str
    version: str | None
    prompt_hmac: str | None
    prompt: str | None


_Entry = tuple[str, str | None, str | None, str | None]


class RecentRequests:
    """The last ``capacity`` requests by id (insertion order, oldest evicted).

    Entries are kept as plain tuples of strings, which the cyclic garbage collector stops
    tracking: ten thousand of them add nothing to collection pauses.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, _Entry] = OrderedDict()

    def remember(self, request_id: str, item: Remembered) -> None:
        self._items[request_id] = (item.model, item.version, item.prompt_hmac, item.prompt)
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, request_id: str) -> Remembered | None:
        entry = self._items.get(request_id)
        return Remembered(*entry) if entry is not None else None


def base_record(
    kind: str,
    *,
    route: str,
    request_id: str,
    version: str | None,
    prompt: str | None,
    prompt_hmac: str | None,
    log_prompts: bool,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "ts": now_rfc3339(),
        "kind": kind,
        "route": route,
        "request_id": request_id,
        "version": version,
    }
    if prompt_hmac is not None:
        record["prompt_hmac"] = prompt_hmac
    if log_prompts and prompt is not None:
        record["prompt"] = prompt
    return record


def user_record(
    *,
    route: str,
    request_id: str,
    score: float,
    comment: str | None,
    remembered: Remembered | None,
    log_prompts: bool,
) -> dict[str, Any]:
    record = base_record(
        "user",
        route=route,
        request_id=request_id,
        version=remembered.version if remembered else None,
        prompt=remembered.prompt if remembered else None,
        prompt_hmac=remembered.prompt_hmac if remembered else None,
        log_prompts=log_prompts,
    )
    record["score"] = score
    record["comment"] = comment[:MAX_COMMENT] if comment is not None else None
    record["model"] = remembered.model if remembered else None
    return record
