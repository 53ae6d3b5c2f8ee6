"""The ConfigMap policy source against a real kube-apiserver: GET, then WATCH; changes
apply, invalid documents and deletion leave the last good policy in force."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hybridroute_policy import Policy
from hybridroute_router.state import policy_digest
from router_harness import (
    FakeUpstream,
    free_port,
    policy_doc,
    running_router,
    serving,
    wait_for,
)

pytestmark = pytest.mark.integration

BODY = {"model": "hybrid", "messages": [{"role": "user", "content": "What is 2 plus 2?"}]}


def configmap(namespace: str, name: str, doc: dict[str, Any] | str) -> str:
    """As today's operator writes it: the policy and the defaults it leaves out (an older
    operator's, without ``policy-defaults``: test_router_policy_defaults.py)."""
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc)
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"policy.yaml": text, "policy-defaults": "2"},
        }
    )


def mount_marker(folder: Path) -> None:
    """The mounted copy of that ConfigMap has the marker beside the policy file."""
    (folder / "policy-defaults").write_text("2")


def digest(doc: dict[str, Any]) -> str:
    return policy_digest(Policy.model_validate(doc))


def ready(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/readyz").json())


@pytest.fixture
def upstreams() -> Iterator[tuple[str, str, str]]:
    a, b, c = (FakeUpstream(n, answer=f"answer from {n}") for n in ("large", "s1", "s2"))
    with serving(a) as la, serving(b) as lb, serving(c) as lc:
        yield la.url, lb.url, lc.url


def test_router_follows_its_configmap(control_plane: Any, tmp_path: Path, upstreams: Any) -> None:
    large, s1, s2 = upstreams
    ns = "router-cm-test"
    control_plane.kubectl("create", "namespace", ns)
    first = policy_doc(large, {"v1": s1})
    control_plane.kubectl("apply", "-f", "-", input=configmap(ns, "support-policy", first))
    args = (
        "--policy-configmap",
        f"{ns}/support-policy",
        "--kubeconfig",
        str(control_plane.kubeconfig),
    )
    with running_router(None, tmp_path, *args) as r:
        assert ready(r.url)["source"] == f"configmap/{ns}/support-policy"
        assert (
            httpx.post(f"{r.url}/v1/chat/completions", json=BODY).json()["choices"][0]["message"][
                "content"
            ]
            == "answer from s1"
        )
        # an update arrives through the watch
        second = policy_doc(large, {"v2": s2}, complexity={"threshold": 0.3})
        control_plane.kubectl("apply", "-f", "-", input=configmap(ns, "support-policy", second))
        wait_for(lambda: ready(r.url)["policy"] == digest(second), timeout=30)
        resp = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
        assert resp.json()["choices"][0]["message"]["content"] == "answer from s2"
        # an invalid document is rejected; the last good policy stays
        control_plane.kubectl(
            "apply", "-f", "-", input=configmap(ns, "support-policy", "large: [broken")
        )
        wait_for(
            lambda: (
                'hybridroute_policy_reloads_total{outcome="rejected",source="configmap"} 1.0'
                in httpx.get(f"{r.url}/metrics").text
            ),
            timeout=30,
        )
        assert ready(r.url)["policy"] == digest(second)
        # deleting the ConfigMap keeps serving the last good policy
        control_plane.kubectl("delete", "configmap", "-n", ns, "support-policy")
        resp = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
        assert resp.status_code == 200
        assert ready(r.url)["policy"] == digest(second)


def test_configmap_overrides_the_mounted_file_fallback(
    control_plane: Any, tmp_path: Path, upstreams: Any
) -> None:
    large, s1, s2 = upstreams
    ns = "router-cm-fallback"
    control_plane.kubectl("create", "namespace", ns)
    from_file = policy_doc(large, {"v1": s1})
    from_cm = policy_doc(large, {"v2": s2})
    control_plane.kubectl("apply", "-f", "-", input=configmap(ns, "p", from_cm))
    args = ("--policy-configmap", f"{ns}/p", "--kubeconfig", str(control_plane.kubeconfig))
    mount_marker(tmp_path)
    with running_router(from_file, tmp_path, *args) as r:
        wait_for(lambda: ready(r.url)["policy"] == digest(from_cm), timeout=30)
        # a late kubelet update of the mounted copy must not roll the API's policy back
        r.write_policy(policy_doc(large, {"v1": s1}, complexity={"threshold": 0.2}))
        wait_for(
            lambda: (
                'hybridroute_policy_reloads_total{outcome="ignored",source="file"} 1.0'
                in httpx.get(f"{r.url}/metrics").text
            ),
            timeout=30,
        )
        assert ready(r.url)["policy"] == digest(from_cm)
    missing = ("--policy-configmap", f"{ns}/absent", "--kubeconfig", str(control_plane.kubeconfig))
    with running_router(from_file, tmp_path, *missing) as r:
        resp = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
        assert resp.json()["choices"][0]["message"]["content"] == "answer from s1"
        assert ready(r.url)["policy"] == digest(from_file)


def test_kubeconfig_with_embedded_certificates_works_and_leaves_no_files(
    control_plane: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybridroute_router.policy_source.kube import from_kubeconfig

    config = yaml.safe_load(Path(control_plane.kubeconfig).read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    for entry, key in (
        (cluster, "certificate-authority"),
        (user, "client-certificate"),
        (user, "client-key"),
    ):
        entry[f"{key}-data"] = base64.b64encode(Path(entry.pop(key)).read_bytes()).decode()
    embedded = tmp_path / "kubeconfig"
    embedded.write_text(yaml.safe_dump(config))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    access = from_kubeconfig(embedded)
    resp = httpx.get(f"{access.server}/api/v1/namespaces", verify=access.ssl, timeout=10)
    assert resp.status_code == 200
    assert list(scratch.iterdir()) == []


def test_a_configmap_deleted_then_created_again_is_followed_again(
    control_plane: Any, tmp_path: Path, upstreams: Any
) -> None:
    """While the ConfigMap is gone the mounted file is the fallback; once it is back (an
    ADDED event in the same watch) the file defers to it again."""
    large, s1, s2 = upstreams
    ns = "router-cm-readded"
    control_plane.kubectl("create", "namespace", ns)
    from_cm = policy_doc(large, {"v2": s2})
    control_plane.kubectl("apply", "-f", "-", input=configmap(ns, "p", from_cm))
    args = ("--policy-configmap", f"{ns}/p", "--kubeconfig", str(control_plane.kubeconfig))
    mount_marker(tmp_path)
    with running_router(policy_doc(large, {"v1": s1}), tmp_path, *args) as r:
        wait_for(lambda: ready(r.url)["policy"] == digest(from_cm), timeout=30)
        control_plane.kubectl("delete", "configmap", "-n", ns, "p")
        fallback = policy_doc(large, {"v1": s1}, complexity={"threshold": 0.2})
        r.write_policy(fallback)  # the ConfigMap is gone: the file applies
        wait_for(lambda: ready(r.url)["policy"] == digest(fallback), timeout=30)
        again = policy_doc(large, {"v2": s2}, complexity={"threshold": 0.3})
        control_plane.kubectl("apply", "-f", "-", input=configmap(ns, "p", again))
        wait_for(lambda: ready(r.url)["policy"] == digest(again), timeout=30)
        late = policy_doc(large, {"v1": s1}, complexity={"threshold": 0.4})
        r.write_policy(late)  # a late file update must not roll the ConfigMap's back

        def settled() -> str | None:
            if ready(r.url)["policy"] == digest(late):
                return "file won"
            ignored = 'hybridroute_policy_reloads_total{outcome="ignored",source="file"} 1.0'
            return "ignored" if ignored in httpx.get(f"{r.url}/metrics").text else None

        assert wait_for(settled, timeout=30) == "ignored"
        assert ready(r.url)["policy"] == digest(again)


def test_kubeconfig_relative_paths_are_resolved_against_its_folder(
    control_plane: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kubectl's rule: a relative certificate or token path in a kubeconfig is relative
    to the kubeconfig file, not to the process's working directory."""
    from hybridroute_router.policy_source.kube import from_kubeconfig

    config = yaml.safe_load(Path(control_plane.kubeconfig).read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    folder = tmp_path / "kube"
    (folder / "pki").mkdir(parents=True)
    for entry, key in (
        (cluster, "certificate-authority"),
        (user, "client-certificate"),
        (user, "client-key"),
    ):
        source = Path(entry[key])
        (folder / "pki" / source.name).write_bytes(source.read_bytes())
        entry[key] = f"pki/{source.name}"
    (folder / "config").write_text(yaml.safe_dump(config))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    access = from_kubeconfig(folder / "config")
    resp = httpx.get(f"{access.server}/api/v1/namespaces", verify=access.ssl, timeout=10)
    assert resp.status_code == 200


def test_a_router_started_before_its_configmap_waits_for_it(
    control_plane: Any, tmp_path: Path, upstreams: Any
) -> None:
    """GitOps may apply the Deployment before the ConfigMap: the router process waits
    (retrying with back-off, logged) instead of exiting, then serves that policy."""
    large, s1, _ = upstreams
    ns = "router-cm-late"
    control_plane.kubectl("create", "namespace", ns)
    port = free_port()
    log_path = tmp_path / "router.log"
    command = [
        str(Path(sys.executable).parent / "hybridroute-router"),
        *("--policy-configmap", f"{ns}/late", "--kubeconfig", str(control_plane.kubeconfig)),
        *("--port", str(port), "--decision-log", "off", "--startup-timeout", "120"),
    ]
    with log_path.open("wb") as log, subprocess.Popen(command, stdout=log, stderr=log) as proc:
        try:
            wait_for(
                lambda: (
                    "configmap/router-cm-late/late: not found (yet); retrying"
                    in log_path.read_text(errors="replace")
                ),
                timeout=30,
            )
            assert proc.poll() is None, log_path.read_text(errors="replace")
            doc = policy_doc(large, {"v1": s1})
            control_plane.kubectl("apply", "-f", "-", input=configmap(ns, "late", doc))
            url = f"http://127.0.0.1:{port}"

            def healthy() -> bool:
                try:
                    return httpx.get(f"{url}/healthz").status_code == 200
                except httpx.TransportError:  # not listening yet
                    return False

            wait_for(healthy, timeout=30)
            assert ready(url)["policy"] == digest(doc)
            resp = httpx.post(f"{url}/v1/chat/completions", json=BODY)
            assert resp.json()["choices"][0]["message"]["content"] == "answer from s1"
        finally:
            proc.terminate()
            proc.wait(timeout=30)
