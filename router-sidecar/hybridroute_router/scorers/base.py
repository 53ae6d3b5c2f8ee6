"""The scorer interface shared by the router's decision and the offline quality tools."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Scorer(Protocol):
    """Scores a prompt's difficulty.

    ``score`` returns a value in [0, 1]; higher means the query is more likely to need the
    large model. The router compares it with the policy's complexity threshold. It must be
    pure and cheap (no network); implementations may cache.
    """

    name: str

    def score(self, prompt: str) -> float: ...
