"""Upstream connections: API keys from env or file, TLS verification, pooled keep-alive
connections reused, and a connection the server closed while idle replaced unseen."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from router_harness import (
    FakeUpstream,
    policy_doc,
    running_router,
    serving,
    wait_for,
)

pytestmark = pytest.mark.integration

BODY = {"model": "hybrid", "messages": [{"role": "user", "content": "What is 2 plus 2?"}]}


def test_api_keys_from_env_and_file_go_only_to_their_own_upstream(
    tmp_path: Path, large: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = FakeUpstream("small", answer="small answer")
    key_file = tmp_path / "small.key"
    key_file.write_text("sk-small-from-file\n")
    monkeypatch.setenv("HR_TEST_LARGE_KEY", "sk-large-from-env")
    log = tmp_path / "decisions.jsonl"
    with serving(small) as s:
        doc = policy_doc(large[1], {"v1": s.url})
        doc["large"]["upstream"]["apiKey"] = {"env": "HR_TEST_LARGE_KEY"}
        doc["small"]["versions"][0]["upstream"]["apiKey"] = {"file": str(key_file)}
        with running_router(doc, tmp_path, "--decision-log", str(log)) as r:
            client = r.openai(api_key="sk-client")
            client.chat.completions.create(**BODY)  # type: ignore[call-overload]
            client.chat.completions.create(  # type: ignore[call-overload]
                model="hybrid",
                messages=[
                    {
                        "role": "user",
                        "content": "Step by step, prove the "
                        "theorem: def f(x): x = 3 * 4? Why? How?",
                    }
                ],
            )
            wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 2)
    assert small.headers[-1]["authorization"] == "Bearer sk-small-from-file"
    assert large[0].headers[-1]["authorization"] == "Bearer sk-large-from-env"
    assert "sk-" not in log.read_text()


def test_a_policy_whose_key_cannot_be_read_is_rejected_on_reload(
    tmp_path: Path, large: Any
) -> None:
    good = policy_doc(large[1], {"v1": large[1]})
    with running_router(good, tmp_path) as r:
        bad = policy_doc(large[1], {"v1": large[1]})
        bad["large"]["upstream"]["apiKey"] = {"env": "HR_TEST_KEY_THAT_IS_NOT_SET"}
        r.write_policy(bad)
        wait_for(
            lambda: (
                'hybridroute_policy_reloads_total{outcome="rejected",source="file"} 1.0'
                in httpx.get(f"{r.url}/metrics").text
            )
        )
        resp = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
    assert resp.status_code == 200
    assert "authorization" not in large[0].headers[-1]


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_upstreams_are_verified_unless_the_policy_says_otherwise(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    up = FakeUpstream("tls", answer="over tls")
    with serving(up, ssl_certfile=str(cert), ssl_keyfile=str(key)) as s:
        url = f"https://127.0.0.1:{s.port}"
        verified = policy_doc(url, {"v1": url}, retries={"attempts": 1})
        with running_router(verified, tmp_path) as r:
            refused = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
        unverified = policy_doc(url, {"v1": url})
        unverified["small"]["versions"][0]["upstream"]["tlsVerify"] = False
        unverified["large"]["upstream"]["tlsVerify"] = False
        with running_router(unverified, tmp_path) as r:
            ok = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
    assert refused.status_code == 502  # self-signed: verification fails, nothing is sent
    assert ok.status_code == 200
    assert ok.json()["choices"][0]["message"]["content"] == "over tls"
    assert len(up.requests) == 1


def test_keep_alive_connections_are_reused(tmp_path: Path, large: Any) -> None:
    with (
        running_router(policy_doc(large[1], {"v1": large[1]}), tmp_path) as r,
        httpx.Client(base_url=r.url) as client,
    ):
        for _ in range(30):
            assert client.post("/v1/chat/completions", json=BODY).status_code == 200
    assert len(large[0].peers) == 30
    assert len(set(large[0].peers)) == 1


def test_a_connection_the_upstream_closed_while_idle_is_replaced_unseen(tmp_path: Path) -> None:
    up = FakeUpstream("short-keepalive", answer="still here")
    with (
        serving(up, timeout_keep_alive=1) as s,
        running_router(policy_doc(s.url, {"v1": s.url}), tmp_path) as r,
    ):
        first = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
        pool = r.rt.state.small["v1"].pool
        # the upstream drops the idle connection after its keep-alive timeout
        wait_for(lambda: all(not c.usable() for c in pool._idle), timeout=10)
        second = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
    assert first.status_code == second.status_code == 200
    assert second.json()["choices"][0]["message"]["content"] == "still here"
    assert len(set(up.peers)) == 2


def test_a_compressed_upstream_answer_reaches_the_client_intact(tmp_path: Path) -> None:
    up = FakeUpstream("gzip", answer="squeezed answer", gzip=True)
    with serving(up) as s, running_router(policy_doc(s.url, {"v1": s.url}), tmp_path) as r:
        resp = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
    assert resp.headers["content-encoding"] == "gzip"
    assert resp.json()["choices"][0]["message"]["content"] == "squeezed answer"
