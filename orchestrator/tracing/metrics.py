"""The run's metrics, through the OpenTelemetry metrics API.

Instruments (units in brackets):

- ``forkjoin.requests`` [{request}]: engine requests by ``forkjoin.status``
  and ``forkjoin.finish_reason``.
- ``forkjoin.tokens`` [{token}]: tokens by ``forkjoin.token.type``
  (``output``, ``prompt``, ``cached``).
- ``forkjoin.node.duration`` [s]: node latency by ``forkjoin.kind`` and
  ``forkjoin.status`` (generate nodes: from the engine slot to the end).
- ``forkjoin.ttft`` [s]: a generate node's time to first token.
- ``forkjoin.replica.queue_depth`` [{request}]: requests already open in a
  replica when one more arrives, by ``forkjoin.replica`` (read from the
  engine span the replica ships back, so it needs tracing, which a
  :class:`~orchestrator.tracing.telemetry.Telemetry` always does).
- ``forkjoin.replica.queue_wait`` [s]: time a request waited in the engine's
  queue, by replica, where the engine reports it.
"""

from __future__ import annotations

from opentelemetry.metrics import Meter

from actors.tracing import SpanRecord
from graphs import NodeKind
from orchestrator.results import NodeStatus
from orchestrator.state import NodeRecord


class Metrics:
    """The instruments, created once per meter."""

    def __init__(self, meter: Meter) -> None:
        self.requests = meter.create_counter("forkjoin.requests", unit="{request}", description="Engine requests.")
        self.tokens = meter.create_counter("forkjoin.tokens", unit="{token}", description="Tokens by type.")
        self.node_duration = meter.create_histogram("forkjoin.node.duration", unit="s", description="Node latency.")
        self.ttft = meter.create_histogram("forkjoin.ttft", unit="s", description="Time to first token of a node.")
        self.queue_depth = meter.create_gauge(
            "forkjoin.replica.queue_depth", unit="{request}", description="Requests open in a replica at an arrival."
        )
        self.queue_wait = meter.create_histogram(
            "forkjoin.replica.queue_wait", unit="s", description="Time a request waited in the engine's queue."
        )

    def node(self, kind: NodeKind, record: NodeRecord) -> None:
        """Record a node that ended."""
        if record.start is None or record.end is None:
            return
        status = {"forkjoin.kind": kind.value, "forkjoin.status": record.status.value}
        self.node_duration.record(record.end - record.start, status)
        if kind is not NodeKind.GENERATE:
            return
        ending = {"forkjoin.status": record.status.value, "forkjoin.finish_reason": record.finish_reason or ""}
        self.requests.add(1, ending)
        if record.ttft is not None and record.status is NodeStatus.DONE:
            self.ttft.record(record.ttft - record.start)
        counts = {"output": record.tokens, "prompt": record.prompt_tokens, "cached": record.cached_tokens}
        for token_type, count in counts.items():
            if count:
                self.tokens.add(count, {"forkjoin.token.type": token_type})

    def engine_span(self, record: SpanRecord) -> None:
        """Record what a replica's span says about its queue."""
        replica = {"forkjoin.replica": str(record.attributes.get("forkjoin.replica", ""))}
        depth = record.attributes.get("forkjoin.replica.open_requests")
        if isinstance(depth, int):
            self.queue_depth.set(depth, replica)
        wait = record.attributes.get("forkjoin.queue_wait_s")
        if isinstance(wait, int | float):
            self.queue_wait.record(float(wait), replica)
