"""The CRD is generated from the pydantic models and kept in sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hybridroute_operator import crdgen

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def _walk(node: Any, path: str = "") -> list[tuple[str, str, Any]]:
    found: list[tuple[str, str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((path, key, value))
            found.extend(_walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_walk(value, f"{path}[{i}]"))
    return found


@pytest.mark.parametrize("rel", [str(p) for p in crdgen.outputs()])
def test_generated_files_match_the_models(rel: str) -> None:
    expected = crdgen.outputs()[Path(rel)]
    actual = (ROOT / rel).read_text(encoding="utf-8")
    assert actual == expected, f"{rel} drifted: run `python -m hybridroute_operator.crdgen`"


def test_check_mode_reports_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert crdgen.main(["--root", str(tmp_path)]) == 0
    (tmp_path / crdgen.CRD_PATHS[0]).write_text("stale\n", encoding="utf-8")
    assert crdgen.main(["--root", str(tmp_path), "--check"]) == 1
    assert "crds/hybridroute.yaml" in capsys.readouterr().out


def test_schema_uses_only_what_kubernetes_accepts() -> None:
    schema = crdgen.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, key, value in _walk(schema):
        if path.endswith(".properties"):
            continue  # a field name, not a schema keyword
        assert key not in {"$ref", "$defs", "const", "title", "allOf", "oneOf"}, f"{path}.{key}"
        if key == "type":
            assert value != "null", path
        if key in {"exclusiveMinimum", "exclusiveMaximum"}:
            assert value is True, path
        if key == "additionalProperties":
            assert isinstance(value, dict), path
        if key == "anyOf":
            assert value == [{"type": "integer"}, {"type": "string"}], path


def test_optional_fields_are_nullable_and_quantities_int_or_string() -> None:
    spec = crdgen.spec_schema()["properties"]
    endpoint = spec["large"]["properties"]["endpoint"]["properties"]
    assert endpoint["service"]["nullable"] is True
    assert "default" not in endpoint["service"]
    cpu = spec["router"]["properties"]["resources"]["properties"]["requests"]["properties"]["cpu"]
    assert cpu["x-kubernetes-int-or-string"] is True


def test_open_seconds_exclusive_minimum_is_boolean() -> None:
    spec = crdgen.spec_schema()["properties"]
    breaker = spec["policy"]["properties"]["circuitBreaker"]["properties"]["openSeconds"]
    assert breaker["minimum"] == 0
    assert breaker["exclusiveMinimum"] is True


def test_cross_field_rules_are_cel_validations() -> None:
    spec = crdgen.spec_schema()["properties"]
    small_rules = [r["rule"] for r in spec["small"]["x-kubernetes-validations"]]
    assert any("sum() == 100" in r for r in small_rules)
    scaling = spec["router"]["properties"]["autoscaling"]
    assert scaling["x-kubernetes-validations"][0]["rule"] == "self.minReplicas <= self.maxReplicas"


def test_crd_has_status_subresource_short_name_and_printer_columns() -> None:
    crd = yaml.safe_load((ROOT / "crds/hybridroute.yaml").read_text(encoding="utf-8"))
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["group"] == "inferensys.io"
    assert version["name"] == "v1alpha1"
    assert crd["spec"]["names"]["shortNames"] == ["hroute"]
    assert version["subresources"] == {"status": {}}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["x-kubernetes-preserve-unknown-fields"] is True
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Ready", "Small share", "Canary", "Canary weight", "Threshold", "Age"]


def test_defaults_come_from_the_policy_models() -> None:
    spec = crdgen.spec_schema()["properties"]
    threshold = spec["policy"]["properties"]["complexity"]["properties"]["threshold"]
    assert threshold["default"] == 0.5
    assert spec["router"]["properties"]["replicas"]["default"] == 2
