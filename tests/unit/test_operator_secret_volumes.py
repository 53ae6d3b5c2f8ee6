"""Secret volume names in the router Deployment: valid DNS labels, one per Secret, never
the same for two Secrets (the API would reject the Deployment)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hybridroute_operator.api import parse_spec
from hybridroute_operator.render import RouteRef
from hybridroute_operator.render.router import build_deployment, secret_volume_name

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
ROUTE = RouteRef(name="support", namespace="llm", uid="uid-1", generation=3)
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def spec_with_secrets(names: list[str]) -> Any:
    raw: dict[str, Any] = yaml.safe_load(
        (ROOT / "examples/02-hybridroute/hybridroute.yaml").read_text(encoding="utf-8")
    )["spec"]
    raw["router"]["feedbackTokenSecretRef"] = {"name": names[0], "key": "feedback"}
    raw["router"]["hashKeySecretRef"] = {"name": names[1], "key": "hash"}
    return parse_spec(raw)


@pytest.mark.parametrize(
    "names",
    [
        ["a" * 70 + "-feedback", "a" * 70 + "-hash"],  # the same first 63 characters
        ["router.keys", "router-keys"],  # a dot and a dash read alike
        ["x" * 55 + "-a" + "y" * 20, "x" * 55 + "-b" + "y" * 20],  # cut right at a dash
    ],
    ids=["long-common-prefix", "dot-vs-dash", "cut-at-a-dash"],
)
def test_two_secrets_get_two_distinct_valid_volume_names(names: list[str]) -> None:
    pod = build_deployment(ROUTE, spec_with_secrets(names))["spec"]["template"]["spec"]
    secret_volumes = {v["secret"]["secretName"]: v["name"] for v in pod["volumes"] if "secret" in v}
    assert set(secret_volumes) == set(names)
    volume_names = [v["name"] for v in pod["volumes"]]
    assert len(set(volume_names)) == len(volume_names), volume_names
    for name in secret_volumes.values():
        assert DNS_LABEL.fullmatch(name), name
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    for secret, volume in secret_volumes.items():
        assert mounts[volume].endswith(f"/{secret}")


def test_a_short_secret_name_keeps_its_readable_volume_name() -> None:
    assert secret_volume_name("openai") == "secret-openai"
    assert secret_volume_name("router-keys") == "secret-router-keys"


def test_volume_names_are_stable() -> None:
    name = "a" * 80
    assert secret_volume_name(name) == secret_volume_name(name)
    assert len(secret_volume_name(name)) <= 63
