"""The router's startup read of its policy ConfigMap (``fetch_policy_document``) against a
real HTTP server on loopback that plays the API server: what time may fix is waited
out with back-off, what it cannot fix fails at once with the reason."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hybridroute_router.policy_source.configmap import StartupFetchError, fetch_policy_document
from hybridroute_router.policy_source.kube import KubeAccess
from hybridroute_router.policy_source.reloader import PolicyDocument

CONFIGMAP = {"metadata": {"name": "p"}, "data": {"policy.yaml": "route: r\n"}}


class ScriptedApiServer(ThreadingHTTPServer):
    """Answers each GET with the next (status, body) of its script, then the last."""

    def __init__(self, script: list[tuple[int, object]]) -> None:
        self.script = script
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedApiServer

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        script = self.server.script
        status, body = script.pop(0) if len(script) > 1 else script[0]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[ScriptedApiServer]:
    server = ScriptedApiServer([])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def access(server: ScriptedApiServer) -> KubeAccess:
    host, port = server.server_address[:2]
    return KubeAccess(f"http://{host!s}:{port}", False, token="t")


def test_a_configmap_created_after_the_router_started_is_waited_for(
    api: ScriptedApiServer,
) -> None:
    api.script[:] = [(404, {"message": "not found"}), (503, {"message": "etcd"}), (200, CONFIGMAP)]
    waits: list[float] = []
    doc = fetch_policy_document(access(api), "ns", "p", timeout=30, sleep=waits.append)
    assert doc == PolicyDocument("route: r\n", None)  # an older operator's: no marker
    assert api.paths == ["/api/v1/namespaces/ns/configmaps/p"] * 3
    assert waits == [0.5, 1.0]  # back-off doubles


def test_the_defaults_marker_beside_the_policy_is_read_with_it(api: ScriptedApiServer) -> None:
    marked = {"data": {"policy.yaml": "route: r\n", "policy-defaults": "2"}}
    api.script[:] = [(200, marked)]
    doc = fetch_policy_document(access(api), "ns", "p", timeout=30, sleep=lambda _: None)
    assert doc == PolicyDocument("route: r\n", "2")


def test_permission_problems_fail_at_once_with_the_api_servers_message(
    api: ScriptedApiServer,
) -> None:
    api.script[:] = [(403, {"message": 'configmaps "p" is forbidden: User "x" cannot get'})]
    with pytest.raises(StartupFetchError, match='HTTP 403: configmaps "p" is forbidden'):
        fetch_policy_document(access(api), "ns", "p", timeout=30, sleep=lambda _: None)
    assert len(api.paths) == 1


def test_waiting_ends_at_the_timeout_naming_the_last_problem(api: ScriptedApiServer) -> None:
    api.script[:] = [(404, {})]
    with pytest.raises(StartupFetchError, match=r"configmap/ns/p: not found \(yet\); gave up"):
        fetch_policy_document(access(api), "ns", "p", timeout=0, sleep=lambda _: None)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((200, ["not", "an", "object"]), "not a JSON object"),
        ((200, {"data": ["policy.yaml"]}), "has no 'policy.yaml' key"),
        ((200, {"data": {"policy.yaml": 7}}), "has no 'policy.yaml' key"),
    ],
)
def test_an_odd_answer_is_a_clear_error(
    api: ScriptedApiServer, answer: tuple[int, object], message: str
) -> None:
    api.script[:] = [answer]
    with pytest.raises(StartupFetchError, match=message):
        fetch_policy_document(access(api), "ns", "p", timeout=30, sleep=lambda _: None)


def test_a_5xx_with_an_odd_body_is_still_waited_out(api: ScriptedApiServer) -> None:
    api.script[:] = [(503, ["busy"]), (200, CONFIGMAP)]
    waits: list[float] = []
    assert fetch_policy_document(access(api), "ns", "p", timeout=30, sleep=waits.append)
    assert waits == [0.5]


def test_a_configmap_without_the_policy_key_is_refused(api: ScriptedApiServer) -> None:
    api.script[:] = [(200, {"data": {"other": "x"}})]
    with pytest.raises(StartupFetchError, match=r"has no 'policy\.yaml' key"):
        fetch_policy_document(access(api), "ns", "p", timeout=30, sleep=lambda _: None)


def test_an_unreachable_api_server_is_retried_until_the_timeout() -> None:
    server = ScriptedApiServer([(200, CONFIGMAP)])
    gone = access(server)
    server.server_close()  # nothing listens there any more
    waits: list[float] = []
    with pytest.raises(StartupFetchError, match="did not answer"):
        fetch_policy_document(gone, "ns", "p", timeout=0.5, sleep=waits.append)
    assert waits, "an unreachable API server is worth waiting for"
