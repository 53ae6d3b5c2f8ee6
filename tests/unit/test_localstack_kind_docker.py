"""For people with Docker: kind-config.yaml agrees with what the operator renders, and
the Dockerfiles (which cannot be built here: no Docker engine) are minimal python-slim
images running as a non-root user on a read-only root filesystem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hybridroute_operator.api.constants import ROUTER_PORT
from hybridroute_operator.api.spec import HybridRouteSpec
from hybridroute_operator.render.common import POLICY_DIR, POLICY_KEY, RouteRef
from hybridroute_operator.render.router import RUN_AS, build_deployment, build_router_service

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ("router-sidecar/Dockerfile", "operator/Dockerfile")


def example_route() -> tuple[RouteRef, HybridRouteSpec]:
    route = yaml.safe_load((ROOT / "examples/02-hybridroute/hybridroute.yaml").read_text())
    ref = RouteRef(route["metadata"]["name"], "default", "uid")
    return ref, HybridRouteSpec.model_validate(route["spec"])


def final_stage(path: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, rest)`` of the last stage, continuation lines joined."""
    text = (ROOT / path).read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    instructions = [
        tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")
    ]
    starts = [i for i, ins in enumerate(instructions) if ins[0].upper() == "FROM"]
    return [(ins[0].upper(), ins[1] if len(ins) > 1 else "") for ins in instructions[starts[-1] :]]


def test_kind_maps_no_port_the_operator_never_renders() -> None:
    config = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    ref, spec = example_route()
    service = build_router_service(ref, spec)
    assert service["spec"]["type"] == "ClusterIP"
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["http"] == ROUTER_PORT
    node_ports = {p.get("nodePort") for p in service["spec"]["ports"]} - {None}
    mapped = {
        m["containerPort"] for node in config["nodes"] for m in node.get("extraPortMappings") or []
    }
    assert mapped <= node_ports
    assert (
        "kubectl port-forward service/<route>-router 8080:8080"
        in (ROOT / "kind-config.yaml").read_text()
    )


@pytest.mark.parametrize("path", DOCKERFILES)
def test_images_are_python_slim_non_root_and_write_nothing(path: str) -> None:
    stage = final_stage(path)
    assert stage[0][0] == "FROM"
    assert stage[0][1].startswith("python:3.11-slim")
    users = [rest for ins, rest in stage if ins == "USER"]
    assert users == [f"{RUN_AS}:{RUN_AS}"]
    env = " ".join(rest for ins, rest in stage if ins == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # no .pyc next to read-only code
    assert not [ins for ins, _ in stage if ins in ("RUN", "VOLUME", "ADD")]
    entrypoint = [rest for ins, rest in stage if ins == "ENTRYPOINT"]
    assert len(entrypoint) == 1
    assert isinstance(json.loads(entrypoint[0]), list)  # exec form: signals reach the process


def test_the_router_image_defaults_match_the_rendered_pod() -> None:
    stage = dict(final_stage("router-sidecar/Dockerfile"))
    cmd = json.loads(stage["CMD"])
    assert cmd[cmd.index("--policy") + 1] == f"{POLICY_DIR}/{POLICY_KEY}"
    assert cmd[cmd.index("--port") + 1] == str(ROUTER_PORT)
    ref, spec = example_route()
    pod = build_deployment(ref, spec)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsUser"] == RUN_AS
    assert any(m["mountPath"] == POLICY_DIR for m in container["volumeMounts"])
