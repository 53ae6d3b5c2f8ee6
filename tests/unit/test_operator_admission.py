"""The webhook's checks (pure) and its certificate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from hybridroute_operator.admission import admission_problem
from hybridroute_operator.certs import self_signed

pytestmark = pytest.mark.unit
EXAMPLE = Path(__file__).resolve().parents[2] / "examples/02-hybridroute/hybridroute.yaml"


def spec() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["spec"]
    return raw


def test_the_example_is_admitted() -> None:
    assert admission_problem("support", "llm", spec()) is None


def test_default_tier_must_be_a_known_tier() -> None:
    raw = spec()
    raw["policy"]["tiers"]["default"] = "gold"
    problem = admission_problem("support", "llm", raw)
    assert problem == "spec.policy.tiers.default: 'gold' is not a tier in rules (critical, free)"


def test_api_keys_must_map_to_known_tiers() -> None:
    raw = spec()
    raw["policy"]["tiers"]["apiKeySha256"] = {"ab" * 32: "platinum"}
    assert "unknown tiers: platinum" in (admission_problem("support", "llm", raw) or "")


def test_schema_rules_are_checked_again_with_the_same_message() -> None:
    raw = spec()
    raw["small"]["versions"][0]["weight"] = 10
    assert "weights must sum to 100, got 20" in (admission_problem("support", "llm", raw) or "")


def test_certificate_names_the_host_and_is_its_own_ca() -> None:
    cert_pem, key_pem = self_signed(["127.0.0.1", "hro-webhook.system.svc"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sans.get_values_for_type(x509.DNSName) == ["hro-webhook.system.svc"]
    assert cert.issuer == cert.subject
    assert b"PRIVATE KEY" in key_pem
