"""OpenTelemetry spans for the request, the decision and each upstream call.

Tracing is off unless a tracer provider is configured (``--otel-exporter``): then the
router makes no OpenTelemetry calls at all on the hot path and forwards an incoming
``traceparent``/``tracestate`` unchanged. When on, spans are sampled parent-based with a
ratio (default 0.05), and the upstream call's span context is injected as traceparent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

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


def build_provider(exporter: str, sample_ratio: float) -> TracerProvider | None:
    """A tracer provider for ``--otel-exporter``: none, console or otlp (needs the
    optional ``opentelemetry-exporter-otlp`` package; endpoint from OTEL_* variables)."""
    if exporter == "none":
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = SdkProvider(
        resource=Resource.create({"service.name": "hybridroute-router"}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
        except ImportError as exc:
            raise SystemExit(
                "--otel-exporter otlp needs: pip install opentelemetry-exporter-otlp-proto-http"
            ) from exc
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        raise SystemExit(f"unknown --otel-exporter {exporter!r} (none, console, otlp)")
    return provider
