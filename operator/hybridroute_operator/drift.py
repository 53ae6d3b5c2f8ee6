"""Drift detection: does a live object still carry everything the operator applied? (pure)

The API server adds defaults and other managers add fields; only what the operator
rendered is compared, so those never count as drift."""

from __future__ import annotations

from typing import Any


def contains(desired: Any, live: Any) -> bool:
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            key in live and contains(value, live[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(contains(d, v) for d, v in zip(desired, live, strict=True))
        )
    return bool(desired == live)


def drifted(desired: dict[str, Any], live: dict[str, Any]) -> bool:
    """True when a field the operator owns was changed or removed in ``live``."""
    return not contains({k: v for k, v in desired.items() if k != "status"}, live)
