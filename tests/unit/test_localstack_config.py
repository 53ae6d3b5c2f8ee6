"""Pure builders of the local stack: component flags, certificates, kubeconfig,
scrape config and the fake node."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hybridroute_localstack import commands
from hybridroute_localstack.kubeconfig import render_kubeconfig
from hybridroute_localstack.node import KWOK_CONFIG, KWOK_STAGES, fake_node
from hybridroute_localstack.pki import make_pki
from hybridroute_localstack.prometheus import scrape_config, stack_scrape_config

pytestmark = pytest.mark.unit


def test_apiserver_runs_with_rbac_admission_webhooks_and_sa_signing(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    flags = commands.apiserver_command(Path("/bin/kube-apiserver"), pki, tmp_path, 2379, 6443)
    assert "--authorization-mode=Node,RBAC" in flags
    admission = next(f for f in flags if f.startswith("--enable-admission-plugins="))
    assert "MutatingAdmissionWebhook" in admission
    assert "ValidatingAdmissionWebhook" in admission
    assert f"--service-account-signing-key-file={pki.service_account_key}" in flags
    assert f"--client-ca-file={pki.ca_cert}" in flags
    assert "--bind-address=127.0.0.1" in flags
    assert "--secure-port=6443" in flags


def test_certificates_chain_to_the_ca_with_loopback_sans_and_admin_group(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    serving = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    admin = x509.load_pem_x509_certificate(pki.admin_cert.read_bytes())
    serving.verify_directly_issued_by(ca)
    admin.verify_directly_issued_by(ca)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    groups = admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [g.value for g in groups] == ["system:masters"]
    usage = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert oct(pki.admin_key.stat().st_mode & 0o777) == "0o600"


def test_kubeconfig_points_kubectl_at_the_server_with_the_admin_certificate() -> None:
    config = render_kubeconfig(
        "https://127.0.0.1:6443", Path("/p/ca.crt"), Path("/p/a.crt"), Path("/p/a.key")
    )
    assert config["current-context"] == "hybridroute-local"
    assert config["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority": "/p/ca.crt",
    }
    assert config["users"][0]["user"]["client-key"] == "/p/a.key"


def test_scrape_config_scrapes_loopback_targets_every_second() -> None:
    config = scrape_config(["127.0.0.1:9100", "localhost:8000"], job="router")
    job = config["scrape_configs"][0]
    assert job["job_name"] == "router"
    assert job["scrape_interval"] == "1s"
    assert job["static_configs"] == [{"targets": ["127.0.0.1:9100", "localhost:8000"]}]


def test_scrape_config_refuses_targets_off_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        scrape_config(["10.1.2.3:9100"], job="x")


def test_fake_node_is_selected_by_the_kwok_configuration() -> None:
    documents = list(yaml.safe_load_all(KWOK_CONFIG.read_text()))
    options = documents[0]["options"]
    key, value = options["manageNodesWithAnnotationSelector"].split("=")
    assert fake_node()["metadata"]["annotations"][key] == value
    assert options["enableCRDs"] == ["Stage"]  # the stages are Stage objects
    assert len(documents) == 1
    stages = {d["metadata"]["name"] for d in yaml.safe_load_all(KWOK_STAGES.read_text())}
    assert {"node-initialize", "node-heartbeat", "pod-ready", "pod-delete"} <= stages
    assert {"pod-probe-passed", "pod-probe-failed"} <= stages


def test_kind_config_describes_a_local_cluster() -> None:
    """Its ports against the rendered router Service: test_localstack_kind_docker.py."""
    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "kind-config.yaml").read_text())
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    roles = [node["role"] for node in config["nodes"]]
    assert roles == ["control-plane", "worker"]


def test_the_stack_scrapes_static_jobs_and_the_pod_runners_file_sd(tmp_path: Path) -> None:
    targets = tmp_path / "targets.json"
    config = stack_scrape_config({"hybridroute-operator": ["127.0.0.1:8090"]}, targets)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["hybridroute-operator"]["static_configs"] == [{"targets": ["127.0.0.1:8090"]}]
    assert jobs["pods"]["file_sd_configs"][0]["files"] == [str(targets)]
    with pytest.raises(ValueError, match="loopback"):
        stack_scrape_config({"x": ["10.0.0.1:80"]}, targets)
