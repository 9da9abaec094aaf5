"""Where a process's spans and metrics go: OTLP, a JSON-lines file, memory.

One :class:`Telemetry` per command (or test) owns an SDK tracer provider and
a meter provider; nothing is global, so two in one process do not mix.
Exporters:

- OTLP, on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its ``_TRACES_`` /
  ``_METRICS_`` variant) is set, as OpenTelemetry's conventions say; the
  protocol is ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf`` by default,
  or ``grpc``) and the exporters read the other ``OTEL_EXPORTER_OTLP_*``
  variables (headers, timeout) themselves. ``OTEL_SERVICE_NAME`` and
  ``OTEL_RESOURCE_ATTRIBUTES`` name the process; ``OTEL_SDK_DISABLED=true``
  turns OTLP off. Spans are batched; :meth:`Telemetry.shutdown` flushes.
- A JSON-lines file (``forkjoin run --trace FILE``): each span as one JSON
  object the moment it ends (what ``forkjoin trace show`` reads).
- Memory, for tests: pass an ``InMemorySpanExporter`` and an
  ``InMemoryMetricReader``.

Engine spans made in replica actors come back with the stream
(:mod:`actors.tracing`); :meth:`Telemetry.export_remote` hands them to the
same span processors, ids and parents intact, so each exporter sees one
trace per request whichever replicas served it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Tracer

from actors.tracing import SpanRecord, to_readable
from graphs.errors import ForkjoinError
from orchestrator.tracing.metrics import Metrics

SCOPE = "forkjoin.orchestrator"


class TelemetryError(ForkjoinError):
    """The OpenTelemetry settings (OTEL_* variables) are wrong. Caused by the user's environment."""


class Telemetry:
    """A tracer and a meter with their exporters; spans go to every processor given."""

    def __init__(
        self,
        processors: Sequence[SpanProcessor] = (),
        readers: Sequence[MetricReader] = (),
        *,
        service: str = "forkjoin",
    ) -> None:
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
        self.tracer_provider = TracerProvider(resource=resource)
        self._processors = list(processors)
        for processor in self._processors:
            self.tracer_provider.add_span_processor(processor)
        self.meter_provider = MeterProvider(resource=resource, metric_readers=list(readers))
        self.tracer: Tracer = self.tracer_provider.get_tracer(SCOPE)
        self.metrics = Metrics(self.meter_provider.get_meter(SCOPE))

    @classmethod
    def from_env(cls, trace_file: Path | IO[str] | None = None) -> Telemetry | None:
        """OTLP if the environment asks for it, plus ``trace_file``; None when neither is asked for."""
        processors: list[SpanProcessor] = []
        readers: list[MetricReader] = []
        if trace_file is not None:
            processors.append(file_processor(trace_file))
        if _otlp_wanted("TRACES"):
            processors.append(BatchSpanProcessor(_otlp_span_exporter()))
        if _otlp_wanted("METRICS"):
            readers.append(PeriodicExportingMetricReader(_otlp_metric_exporter()))
        if not processors and not readers:
            return None
        return cls(processors, readers)

    def export_remote(self, records: Iterable[SpanRecord]) -> None:
        """Hand spans finished in another process (replica actors) to this one's processors."""
        for record in records:
            span = to_readable(record)
            for processor in self._processors:
                processor.on_end(span)
            self.metrics.engine_span(record)

    def shutdown(self) -> None:
        """Flush and stop every exporter (idempotent)."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@contextmanager
def open_telemetry(trace_file: Path | None = None) -> Iterator[Telemetry | None]:
    """A command's telemetry (:meth:`Telemetry.from_env`), flushed and shut down when the block ends."""
    telemetry = Telemetry.from_env(trace_file=trace_file)
    try:
        yield telemetry
    finally:
        if telemetry is not None:
            telemetry.shutdown()


def file_processor(out: Path | IO[str]) -> SpanProcessor:
    """Each span as one line of JSON appended to ``out`` the moment it ends."""
    stream = out.open("a", encoding="utf-8") if isinstance(out, Path) else out
    exporter = ConsoleSpanExporter(out=stream, formatter=lambda span: span.to_json(indent=None) + "\n")
    return SimpleSpanProcessor(exporter)


def _otlp_wanted(signal: str) -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    return any(os.environ.get(name) for name in endpoints)


def _protocol(signal: str) -> str:
    protocol = (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip() or "http/protobuf"
    if protocol not in ("http/protobuf", "grpc"):
        raise TelemetryError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported (http/protobuf or grpc)")
    return protocol


def _otlp_span_exporter() -> SpanExporter:
    if _protocol("TRACES") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter()


def _otlp_metric_exporter() -> MetricExporter:
    if _protocol("METRICS") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    return OTLPMetricExporter()
