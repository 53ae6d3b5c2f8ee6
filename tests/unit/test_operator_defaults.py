"""The operator's default ports: the same in the CLI and the chart, and clear of the
router's default port (both run on one host in development and in .ci/up)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hybridroute_operator.cli import build_parser
from hybridroute_router.cli import parser as router_parser

pytestmark = pytest.mark.unit
VALUES = Path(__file__).resolve().parents[2] / "charts/hybridroute-operator/values.yaml"


def test_operator_ports_do_not_clash_with_the_routers_default_port() -> None:
    operator = build_parser().parse_args([])
    router = router_parser().parse_args([])
    assert router.port not in {operator.metrics_port, operator.health_port}
    assert operator.metrics_port != operator.health_port


def test_chart_uses_the_clis_default_ports() -> None:
    operator = build_parser().parse_args([])
    values = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    assert values["metrics"]["port"] == operator.metrics_port
    assert values["healthPort"] == operator.health_port
