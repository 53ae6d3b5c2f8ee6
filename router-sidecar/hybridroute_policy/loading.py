"""Parse and serialise policies from YAML or JSON text and files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hybridroute_policy.models import Policy


class PolicyError(ValueError):
    """A policy that cannot be used, with a message a person can act on."""


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """Parse YAML (a superset of JSON) into a validated Policy."""
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML/JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: expected a mapping at the top level")
    try:
        return Policy.model_validate(raw)
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
