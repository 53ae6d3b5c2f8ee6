"""spec.router.tracing end to end: the environment the operator renders into the router's
Deployment makes the ``hybridroute-router`` process export its spans with OTLP/HTTP
(protobuf) to a real receiver on loopback, continuing the client's trace."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hybridroute_operator.api import parse_spec
from hybridroute_operator.render import RouteRef
from hybridroute_operator.render.router import build_deployment
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from router_harness import fake_upstream, policy_doc, router_process, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{PARENT_TRACE}-00f067aa0ba902b7-01"  # sampled by the caller
SIMPLE = [{"role": "user", "content": "What is the capital of France?"}]


class OtlpReceiver:
    """An OTLP/HTTP trace receiver: decodes each ExportTraceServiceRequest it is sent."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.requests: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.requests.append(
                    {"path": self.path, "type": self.headers.get("Content-Type", "")}
                )
                receiver.collect(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def collect(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "attributes": {a.key: a.value for a in span.attributes},
                            "resource": resource,
                        }
                    )


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def rendered_env(otlp_endpoint: str, pod: str) -> dict[str, str]:
    """The router container's environment as the operator renders it (sampling ratio 0:
    only traces the caller sampled), with $(POD_NAME) expanded as the kubelet would."""
    raw = yaml.safe_load((ROOT / "examples/02-hybridroute/hybridroute.yaml").read_text())
    raw["spec"]["router"] = {"tracing": {"otlpEndpoint": otlp_endpoint, "samplingRatio": 0.0}}
    route = RouteRef(name="support", namespace="llm", uid="uid-1")
    deployment = build_deployment(route, parse_spec(raw["spec"]))
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    values = {e["name"]: e["value"] for e in env if "value" in e}
    values["POD_NAME"] = pod
    return {k: v.replace("$(POD_NAME)", pod) for k, v in values.items()}


def test_rendered_tracing_exports_decision_and_upstream_spans_over_otlp_http(
    tmp_path: Path, receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in rendered_env(receiver.url, "support-router-0").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # export promptly (ms)
    with fake_upstream("large", "large") as large, fake_upstream("small", "small") as small:
        policy = tmp_path / "policy.json"
        policy.write_text(msgspec.json.encode(policy_doc(large[1], {"v1": small[1]})).decode())
        with router_process(policy) as router:
            import openai

            with openai.OpenAI(base_url=f"{router.url}/v1", api_key="k", max_retries=0) as client:
                client.chat.completions.create(model="hybrid", messages=SIMPLE)  # unsampled
                client.chat.completions.create(
                    model="hybrid", messages=SIMPLE, extra_headers={"traceparent": TRACEPARENT}
                )
            wait_for(lambda: len(receiver.spans) >= 3, timeout=20)
        sent = small[0].headers[-1]["traceparent"]

    assert {r["path"] for r in receiver.requests} == {"/v1/traces"}
    assert {r["type"] for r in receiver.requests} == {"application/x-protobuf"}
    # ratio 0: only the caller's sampled trace is exported, the other request's never is
    assert {s["trace_id"] for s in receiver.spans} == {PARENT_TRACE}
    by_name = {s["name"]: s for s in receiver.spans}
    request = by_name["hybridroute.request"]
    decision, upstream = by_name["hybridroute.decision"], by_name["hybridroute.upstream"]
    assert request["parent_span_id"] == "00f067aa0ba902b7"  # the caller's span
    assert decision["parent_span_id"] == request["span_id"]
    assert upstream["parent_span_id"] == request["span_id"]
    assert decision["attributes"]["hybridroute.reason"].string_value == (
        "complexity_below_threshold"
    )
    assert upstream["attributes"]["hybridroute.version"].string_value == "v1"
    assert sent == f"00-{PARENT_TRACE}-{upstream['span_id']}-01"  # propagated upstream
    resource = request["resource"]
    assert resource["service.name"] == "hybridroute-router"
    assert resource["k8s.pod.name"] == "support-router-0"
    assert resource["k8s.namespace.name"] == "llm"
    assert resource["hybridroute.route"] == "support"
