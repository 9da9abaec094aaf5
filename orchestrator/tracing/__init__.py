"""Tracing and metrics: live OpenTelemetry spans of runs, their exporters, and timelines read back.

Public API: :class:`Telemetry` (tracer, meter and exporters: OTLP from the
``OTEL_*`` environment, a JSON-lines file, memory in tests) and
:func:`open_telemetry` (a command's, shut down at the end),
:class:`GraphTrace` (the runtime's spans of one graph run), :func:`run_span`
(the span around one request of the command line or a server),
:class:`TracedEngine` (an engine whose requests carry the current span's
context: the PASTA interpreter traces through it), and the
timeline of a span file (:func:`read_trace`, :func:`show`; :mod:`.plot`
draws it).
"""

from orchestrator.tracing.spans import GraphTrace, TracedEngine, run_span
from orchestrator.tracing.telemetry import Telemetry, TelemetryError, file_processor, open_telemetry
from orchestrator.tracing.timeline import Timeline, TraceFileError, read_trace, show

__all__ = [
    "GraphTrace",
    "Telemetry",
    "TelemetryError",
    "Timeline",
    "TraceFileError",
    "TracedEngine",
    "file_processor",
    "open_telemetry",
    "read_trace",
    "run_span",
    "show",
]
