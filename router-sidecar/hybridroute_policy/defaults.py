"""Which defaults fill in what a policy leaves out (pure).

The operator renders only the values that differ from the policy's defaults, so the
defaults are part of what a rendered policy means, and a changed default would silently
change every route left at it. Defaults come in numbered generations:

1. until issue 11: ``complexity.scorer`` defaults to ``heuristic``;
2. since: ``complexity.scorer`` defaults to ``auto`` (nothing else changed).

An operator writes the generation its ``policy.yaml`` was rendered against into the
policy ConfigMap's ``policy-defaults`` key (:data:`DEFAULTS_KEY`); operators of before
issue 11 wrote no such key, so a ConfigMap without it is read with generation 1. A
standalone policy file has no marker and is read with the current defaults
(docs/router.md, "Upgrading: the default scorer")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULTS_KEY = "policy-defaults"
"""The policy ConfigMap key (and, mounted, the sibling file of ``policy.yaml``) that names
the defaults generation the policy was rendered against."""

CURRENT_DEFAULTS = 2
"""The generation of this package's policy models."""

UNMARKED_DEFAULTS = 1
"""The generation of an operator's ConfigMap without :data:`DEFAULTS_KEY`: every operator
that wrote none rendered against generation 1."""

CHANGED: Mapping[int, Mapping[tuple[str, ...], object]] = {
    2: {("complexity", "scorer"): "heuristic"},
}
"""Per generation, the fields whose default it changed, with their default before it."""


def fill_defaults(raw: Mapping[str, Any], defaults: int) -> dict[str, Any]:
    """``raw`` (a policy document as parsed, camelCase keys) with every field whose default
    changed after generation ``defaults`` set to its value in that generation, where
    ``raw`` leaves it out. A value ``raw`` names is kept; a generation at or above
    :data:`CURRENT_DEFAULTS` changes nothing. ``raw`` is not modified."""
    doc: dict[str, Any] = dict(raw)
    for generation in sorted(CHANGED):
        if generation <= defaults:
            continue
        for path, before in CHANGED[generation].items():
            _set_if_missing(doc, path, before)  # the earliest change after ``defaults`` wins
    return doc


def _set_if_missing(doc: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    node = doc
    for key in path[:-1]:
        child = node.get(key, {})
        if not isinstance(child, Mapping):
            return  # not a mapping: the schema's validation reports it, as it would anyway
        node[key] = child = dict(child)
        node = child
    node.setdefault(path[-1], value)


def describe_defaults(defaults: int) -> str:
    """How the defaults a policy was read with are named in logs: the generation, and what
    it fills in differently from the current one."""
    if defaults > CURRENT_DEFAULTS:
        return f"{defaults} (newer than this router's {CURRENT_DEFAULTS}, read as it)"
    changed = [
        f"{'.'.join(path)}: {before}"
        for generation in sorted(CHANGED)
        if generation > defaults
        for path, before in CHANGED[generation].items()
    ]
    return f"{defaults} ({', '.join(changed)} when unset)" if changed else str(defaults)
