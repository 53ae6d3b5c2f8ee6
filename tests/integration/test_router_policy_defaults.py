"""A router newer than its operator: the policy ConfigMap of an operator of before the
default scorer became ``auto`` leaves ``complexity.scorer`` out (its default,
``heuristic``) and has no ``policy-defaults`` key. A real ``hybridroute-router`` process
following it through a real kube-apiserver keeps the heuristic; once an upgraded
operator adds the key, the router reads the same policy with today's defaults."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from router_harness import (
    FakeUpstream,
    free_port,
    policy_doc,
    running_router,
    serving,
    wait_for,
)

pytestmark = pytest.mark.integration


def configmap(namespace: str, name: str, doc: dict[str, Any], marker: str | None) -> str:
    data = {"policy.yaml": yaml.safe_dump(doc)}
    if marker is not None:
        data["policy-defaults"] = marker
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": data,
        }
    )


def ready(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/readyz").json())


def scorer_info(url: str) -> list[str]:
    text = httpx.get(f"{url}/metrics").text
    return [line for line in text.splitlines() if line.startswith("hybridroute_scorer_info{")]


@pytest.fixture
def upstreams() -> Iterator[tuple[str, str]]:
    large, small = FakeUpstream("large", answer="large"), FakeUpstream("s1", answer="small")
    with serving(large) as la, serving(small) as ls:
        yield la.url, ls.url


def test_an_older_operators_configmap_keeps_the_heuristic_until_the_marker_comes(
    control_plane: Any, tmp_path: Path, upstreams: tuple[str, str]
) -> None:
    large, s1 = upstreams
    ns = "router-defaults"
    control_plane.kubectl("create", "namespace", ns)
    doc = policy_doc(large, {"v1": s1})  # no complexity.scorer, as the operator left it out
    assert "scorer" not in doc.get("complexity", {})
    control_plane.kubectl("apply", "-f", "-", input=configmap(ns, "p", doc, None))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "router.log"
    command = [
        str(Path(sys.executable).parent / "hybridroute-router"),
        *("--policy-configmap", f"{ns}/p", "--kubeconfig", str(control_plane.kubeconfig)),
        *("--port", str(port), "--decision-log", "off"),
    ]

    def logged(needle: str) -> bool:
        return needle in log_path.read_text(errors="replace")

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz").status_code == 200
        except httpx.TransportError:  # not listening yet
            return False

    with log_path.open("wb") as log, subprocess.Popen(command, stdout=log, stderr=log) as proc:
        try:
            wait_for(healthy, timeout=60)
            wait_for(lambda: logged("policy in force"), timeout=30)
            assert ready(url)["scorer"] == "heuristic"
            assert ready(url)["scorer_requested"] == "heuristic"
            assert ready(url)["policy_defaults"] == 1
            assert any('scorer="heuristic"' in line for line in scorer_info(url))
            assert logged("defaults 1 (complexity.scorer: heuristic when unset); scorer heuristic")

            # the operator is upgraded: same policy.yaml, now with its defaults named
            control_plane.kubectl("apply", "-f", "-", input=configmap(ns, "p", doc, "2"))
            wait_for(lambda: ready(url)["scorer"] == "auto", timeout=60)
            assert ready(url)["policy_defaults"] == 2
            assert any('scorer="auto"' in line for line in scorer_info(url))
            assert logged(f"configmap/{ns}/p; defaults 2; scorer auto")

            # a marker that means nothing is refused; the last good policy stays
            control_plane.kubectl("apply", "-f", "-", input=configmap(ns, "p", doc, "two"))
            wait_for(lambda: logged("policy-defaults must be a positive whole number"), timeout=30)
            assert ready(url)["scorer"] == "auto"
            assert proc.poll() is None
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_the_mounted_fallback_reads_the_marker_beside_the_policy_file(
    control_plane: Any, tmp_path: Path, upstreams: tuple[str, str]
) -> None:
    """While the ConfigMap cannot be read through the API, the mounted copy applies, and
    the kubelet puts ``policy-defaults`` beside ``policy.yaml``: a new marker file alone
    is a change."""
    large, s1 = upstreams
    args = ("--policy-configmap", "router-defaults/absent")
    args += ("--kubeconfig", str(control_plane.kubeconfig))
    with running_router(policy_doc(large, {"v1": s1}), tmp_path, *args) as r:
        assert ready(r.url)["scorer"] == "heuristic"  # no marker: an older operator's
        (tmp_path / "policy-defaults").write_text("2\n")
        wait_for(lambda: ready(r.url)["scorer"] == "auto", timeout=30)


def test_a_standalone_policy_file_takes_todays_defaults(
    tmp_path: Path, upstreams: tuple[str, str]
) -> None:
    large, s1 = upstreams
    (tmp_path / "policy-defaults").write_text("1")  # not an operator's: not read
    with running_router(policy_doc(large, {"v1": s1}), tmp_path) as r:
        assert ready(r.url)["scorer"] == "auto"
        assert ready(r.url)["policy_defaults"] == 2
