"""The chart's values.yaml, values.schema.json and README table describe the same values:
a value added to one and not the others fails here (helm itself enforces the schema:
tests/integration/test_chart_install.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

CHART = Path(__file__).parents[2] / "charts" / "hybridroute-operator"
JSON_TYPES = {
    bool: {"boolean"},
    int: {"integer", "number"},
    float: {"number"},
    str: {"string"},
    list: {"array"},
    dict: {"object"},
}


def load() -> tuple[dict[str, Any], dict[str, Any]]:
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    return values, schema


def resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    resolved: dict[str, Any] = schema["definitions"][ref.rsplit("/", 1)[1]]
    return resolved


def leaves(
    values: dict[str, Any], node: dict[str, Any], schema: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(dotted path, default, schema) of every value down to the schema's free-form maps."""
    properties = node["properties"]
    assert set(values) == set(properties), f"{prefix or '.'}: values.yaml vs schema"
    for key, default in values.items():
        sub = resolve(properties[key], schema)
        path = f"{prefix}{key}"
        if isinstance(default, dict) and "properties" in sub:
            yield from leaves(default, sub, schema, path + ".")
        else:
            yield path, default, sub


def test_schema_has_exactly_the_values_of_values_yaml_with_their_types() -> None:
    values, schema = load()
    found = list(leaves(values, schema, schema))
    assert len(found) >= 25
    for path, default, sub in found:
        allowed = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
        assert JSON_TYPES[type(default)] & set(allowed), f"{path}: {default!r} vs {allowed}"
        if "enum" in sub:
            assert default in sub["enum"], path


def test_schema_refuses_unknown_keys_at_every_level() -> None:
    _, schema = load()

    def objects(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if "properties" in node:
            yield node
            for sub in node["properties"].values():
                yield from objects(resolve(sub, schema))

    for node in objects(schema):
        assert node.get("additionalProperties") is False


def test_readme_lists_every_value_and_only_those() -> None:
    values, schema = load()
    paths = {path for path, _, _ in leaves(values, schema, schema)}
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Values", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([A-Za-z.]+)` \|", section, re.M))
    assert rows == paths
