"""Command lines of every component, as pure functions of paths and ports.

The API server runs with envtest-like flags: RBAC (and the Node authorizer) on, the
default admission chain including the mutating and validating webhooks and
ValidatingAdmissionPolicy, a client CA, and service-account token signing keys.
"""

from __future__ import annotations

from pathlib import Path

from hybridroute_localstack.pki import Pki

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
LOOPBACK = "127.0.0.1"


def etcd_command(etcd: Path, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    client = f"http://{LOOPBACK}:{client_port}"
    peer = f"http://{LOOPBACK}:{peer_port}"
    return [
        str(etcd),
        "--name=default",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def _serving(pki: Pki, port: int, cert_dir: Path) -> list[str]:
    """HTTPS on loopback with the stack's serving certificate (API server, controllers)."""
    return [
        f"--bind-address={LOOPBACK}",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
    ]


def apiserver_command(
    apiserver: Path, pki: Pki, cert_dir: Path, etcd_port: int, secure_port: int
) -> list[str]:
    return [
        str(apiserver),
        f"--etcd-servers=http://{LOOPBACK}:{etcd_port}",
        *_serving(pki, secure_port, cert_dir),
        f"--advertise-address={LOOPBACK}",
        f"--client-ca-file={pki.ca_cert}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook,"
        "ValidatingAdmissionPolicy",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--allow-privileged=true",
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        "--v=1",
    ]


def _component_auth(kubeconfig: Path) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
    ]


def controller_manager_command(
    binary: Path, pki: Pki, kubeconfig: Path, port: int, cert_dir: Path
) -> list[str]:
    return [
        str(binary),
        *_component_auth(kubeconfig),
        *_serving(pki, port, cert_dir),
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.ca_cert}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--controllers=*",
        "--v=1",
    ]


def scheduler_command(
    binary: Path, pki: Pki, kubeconfig: Path, port: int, cert_dir: Path
) -> list[str]:
    return [
        str(binary),
        *_component_auth(kubeconfig),
        *_serving(pki, port, cert_dir),
        "--v=1",
    ]


def kwok_command(binary: Path, kubeconfig: Path, config: Path, port: int) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--config={config}",
        f"--server-address={LOOPBACK}:{port}",
    ]


def prometheus_command(binary: Path, config: Path, storage: Path, port: int) -> list[str]:
    return [
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={storage}",
        f"--web.listen-address={LOOPBACK}:{port}",
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
    ]
