"""Parse and serialise policies from YAML or JSON text and files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hybridroute_policy.defaults import (
    CURRENT_DEFAULTS,
    DEFAULTS_KEY,
    UNMARKED_DEFAULTS,
    fill_defaults,
)
from hybridroute_policy.models import Policy


class PolicyError(ValueError):
    """A policy that cannot be used, with a message a person can act on."""


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def configmap_defaults(marker: str | None, *, source: str = "<policy>") -> int:
    """The defaults generation of a policy from an operator's ConfigMap, given its
    ``policy-defaults`` value (None: the key is absent, as every operator before the key
    wrote it; generation 1). A value that is not a positive whole number is refused."""
    if marker is None:
        return UNMARKED_DEFAULTS
    value = marker.strip()
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise PolicyError(
            f"{source}: {DEFAULTS_KEY} must be a positive whole number, got {marker[:40]!r}"
        )
    return int(value)


def parse_policy(
    text: str, *, source: str = "<policy>", defaults: int = CURRENT_DEFAULTS
) -> Policy:
    """Parse YAML (a superset of JSON) into a validated Policy; what it leaves out takes
    the policy defaults of generation ``defaults`` (hybridroute_policy.defaults)."""
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML/JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: expected a mapping at the top level")
    try:
        return Policy.model_validate(fill_defaults(raw, defaults))
    except ValidationError as exc:
        raise PolicyError(f"{source}: {_describe(exc)}") from exc


def load_policy(path: str | Path) -> Policy:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{p}: cannot read: {exc.strerror}") from exc
    return parse_policy(text, source=str(p))


def dump_policy(policy: Policy) -> str:
    """Canonical JSON (camelCase, sorted keys): stable across renders."""
    return json.dumps(policy.model_dump(mode="json", by_alias=True), sort_keys=True, indent=2)
