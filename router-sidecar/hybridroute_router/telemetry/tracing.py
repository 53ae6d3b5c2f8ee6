"""OpenTelemetry spans for the request, the decision and each upstream call.

Tracing is off unless a tracer provider is configured (``--otel-exporter``, default
``$OTEL_TRACES_EXPORTER``): then the router makes no OpenTelemetry calls at all on the hot
path and forwards an incoming ``traceparent``/``tracestate`` unchanged. When on, spans
are sampled parent-based with a ratio (default 0.05, or ``$OTEL_TRACES_SAMPLER_ARG``
with ``OTEL_TRACES_SAMPLER=parentbased_traceidratio``), and the upstream call's span
context is injected as traceparent. The ``otlp`` exporter sends OTLP/HTTP protobuf to
``$OTEL_EXPORTER_OTLP_ENDPOINT`` (the variables the operator renders from
``spec.router.tracing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

DEFAULT_SAMPLE_RATIO = 0.05
SERVICE_NAME = "hybridroute-router"
EXPORTERS = ("none", "console", "otlp")
_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.enabled = provider is not None
        self.tracer = trace.get_tracer("hybridroute.router", tracer_provider=provider)

    def start(
        self,
        name: str,
        *,
        parent: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
    ) -> Span:
        return self.tracer.start_span(name, context=parent, kind=kind, attributes=attributes)

    @staticmethod
    def extract(traceparent: str | None, tracestate: str | None) -> Context:
        carrier = {}
        if traceparent:
            carrier["traceparent"] = traceparent
        if tracestate:
            carrier["tracestate"] = tracestate
        return _PROPAGATOR.extract(carrier)

    @staticmethod
    def context_of(span: Span) -> Context:
        return trace.set_span_in_context(span)

    @staticmethod
    def inject(span: Span) -> bytes:
        """Header lines carrying the span's context, ready for a raw HTTP request."""
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
        return b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in carrier.items())

    @staticmethod
    def fail(span: Span, message: str) -> None:
        span.set_status(Status(StatusCode.ERROR, message))


def exporter_from_env(environ: Mapping[str, str]) -> str:
    """``--otel-exporter``'s default: ``OTEL_TRACES_EXPORTER`` (none when unset)."""
    return environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower() or "none"


def sample_ratio_from_env(environ: Mapping[str, str]) -> float:
    """``--trace-sample-ratio``'s default from the standard OTEL_TRACES_SAMPLER(_ARG).

    The router always samples parent-based (a sampled caller is always traced); the
    variables only set the ratio for new traces. Another sampler is a startup error."""
    sampler = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if sampler in ("", "parentbased_traceidratio", "traceidratio"):
        arg = environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
        if not arg:
            return DEFAULT_SAMPLE_RATIO
        try:
            ratio = float(arg)
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise SystemExit(f"OTEL_TRACES_SAMPLER_ARG must be a ratio in [0, 1], got {arg!r}")
        return ratio
    fixed = {"parentbased_always_on": 1.0, "always_on": 1.0}
    fixed |= {"parentbased_always_off": 0.0, "always_off": 0.0}
    if sampler in fixed:
        return fixed[sampler]
    raise SystemExit(
        f"OTEL_TRACES_SAMPLER={sampler!r} is not supported: the router samples parent-based "
        "(parentbased_traceidratio, parentbased_always_on or parentbased_always_off)"
    )


def build_provider(exporter: str, sample_ratio: float) -> TracerProvider | None:
    """A tracer provider for ``--otel-exporter``: none, console or otlp (OTLP/HTTP
    protobuf; endpoint, headers and timeout from the standard OTEL_EXPORTER_OTLP_*
    variables). The service name is ``$OTEL_SERVICE_NAME``, else hybridroute-router."""
    if exporter == "none":
        return None
    if exporter not in EXPORTERS:
        raise SystemExit(f"unknown --otel-exporter {exporter!r} (none, console, otlp)")
    if not 0.0 <= sample_ratio <= 1.0:
        raise SystemExit(f"--trace-sample-ratio must be in [0, 1], got {sample_ratio}")
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
    provider = SdkProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(sample_ratio)))
    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise SystemExit(
                "--otel-exporter otlp needs: pip install opentelemetry-exporter-otlp-proto-http"
            ) from exc
        span_exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    return provider
