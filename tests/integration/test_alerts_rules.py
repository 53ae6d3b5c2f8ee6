"""The chart's alerting rules, checked and unit-tested by the real ``promtool`` (Debian's
prometheus package), and one runbook per alert."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
RULES = ROOT / "charts" / "hybridroute-operator" / "rules" / "hybridroute.rules.yaml"
RULE_TESTS = ROOT / "tests" / "alerts" / "hybridroute_rules_test.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks"
RUNBOOK_URL = "https://github.com/inferensys/hybridroute/blob/main/docs/runbooks/{}.md"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool missing: apt-get install prometheus (bash .ci/setup does)")
    return found


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_rules_pass_promtool_check(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_a_broken_expression_fails_promtool_check(promtool: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.rules.yaml"
    text = RULES.read_text(encoding="utf-8")
    broken.write_text(text.replace("max by (namespace, route) (", "max by (namespace, route (", 1))
    result = run(promtool, "check", "rules", str(broken))
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr


def test_every_alert_fires_and_stays_silent_as_its_promtool_unit_tests_say(promtool: str) -> None:
    result = run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_must_not() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    fires: set[str] = set()
    silent: set[str] = set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert len(names) == 11
    assert names - fires == set(), "alerts never shown to fire"
    assert names - silent == set(), "alerts never shown to stay silent"


def test_every_alert_links_a_runbook_that_says_what_it_means_and_what_to_do() -> None:
    index = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    for rule in alerts():
        name = rule["alert"]
        assert rule["annotations"]["runbook_url"] == RUNBOOK_URL.format(name)
        assert rule["labels"]["severity"] in {"critical", "warning"}
        page = (RUNBOOKS / f"{name}.md").read_text(encoding="utf-8")
        sections = re.findall(r"^## (.+)$", page, re.M)
        assert sections == ["Meaning", "Confirm", "What to do"], name
        confirm = page.split("## Confirm", 1)[1].split("## What to do", 1)[0]
        assert "```" in confirm, f"{name}: no query or command to confirm"
        assert f"[{name}]({name}.md)" in index
