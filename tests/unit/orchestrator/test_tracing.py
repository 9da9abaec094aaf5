"""OpenTelemetry: live spans run -> graph -> node -> engine, metrics, and the exporters (memory, file, OTLP)."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from actors import GenerateRequest, RequestError, ScriptedEngine
from actors.replica import Replica, ScriptedSpec
from graphs import Graph
from orchestrator import Runtime
from orchestrator.tracing import Telemetry, TelemetryError, run_span


def graph() -> Graph:
    g = Graph()
    with g.scope("s") as s:
        s.generate("good", name="good")
        s.generate("bad", name="bad")
    g.generate("after {s}", name="after")
    return g


def respond(request: GenerateRequest) -> str:
    if request.prompt == "bad":
        raise RequestError("nope")
    return "a b c"


def in_memory() -> tuple[Telemetry, InMemorySpanExporter, InMemoryMetricReader]:
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    return Telemetry([SimpleSpanProcessor(exporter)], [reader]), exporter, reader


async def test_node_spans_are_live_children_of_the_graph_span() -> None:
    telemetry, exporter, _ = in_memory()
    runtime = Runtime(ScriptedEngine(respond, token_delay_s=0.001), telemetry=telemetry)
    await runtime.arun(graph())
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"forkjoin.graph", "generate good", "generate bad"}
    root = spans["forkjoin.graph"]
    assert root.status.status_code is StatusCode.ERROR and root.attributes["forkjoin.nodes"] == 4
    assert [e.attributes["forkjoin.node"] for e in root.events] == ["s", "after"]
    good, bad = spans["generate good"], spans["generate bad"]
    assert good.parent.span_id == bad.parent.span_id == root.context.span_id
    assert good.attributes["forkjoin.tokens"] == 3 and good.attributes["forkjoin.status"] == "done"
    assert good.attributes["forkjoin.finish_reason"] == "stop" and good.attributes["forkjoin.prompt_tokens"] == 1
    assert 0 <= good.attributes["forkjoin.slot_wait_s"] and 0 < good.attributes["forkjoin.ttft_s"]
    assert bad.status.status_code is StatusCode.ERROR and bad.status.description == "nope"
    assert root.start_time <= good.start_time <= good.end_time <= root.end_time


async def test_one_request_is_one_trace_down_to_the_engine_span_in_the_replica() -> None:
    telemetry, exporter, _ = in_memory()
    replica = Replica("r-1", ScriptedSpec(answers={"x": "a b", "y": "c"}, token_delay_s=0.0))
    g = Graph()
    g.generate("x", name="x")
    g.generate("y {x}", name="y")
    with run_span(telemetry, {"forkjoin.strategy": "parallel"}):
        result = await Runtime(replica, telemetry=telemetry).arun(g)
    assert result.ok
    spans = exporter.get_finished_spans()
    by_name = {span.name: span for span in spans if span.name != "engine.generate"}
    assert {span.context.trace_id for span in spans} == {by_name["forkjoin.run"].context.trace_id}
    assert by_name["forkjoin.run"].attributes["forkjoin.strategy"] == "parallel"
    assert by_name["forkjoin.graph"].parent.span_id == by_name["forkjoin.run"].context.span_id
    engines = {
        span.attributes["forkjoin.request_id"].rsplit("/", 1)[1]: span for span in spans if span.name == "engine.generate"
    }
    for node in ("x", "y"):
        assert engines[node].parent.span_id == by_name[f"generate {node}"].context.span_id
        assert engines[node].resource.attributes["service.name"] == "forkjoin-replica"
    assert engines["x"].attributes["forkjoin.tokens"] == 2 and engines["x"].attributes["forkjoin.replica"] == "r-1"
    assert by_name["generate y"].attributes["forkjoin.dependencies"] == ("x",)


def points(reader: InMemoryMetricReader) -> dict[str, list]:
    out: dict[str, list] = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out[metric.name] = list(metric.data.data_points)
    return out


async def test_metrics_count_requests_tokens_latency_and_queue_depth() -> None:
    telemetry, _, reader = in_memory()
    replica = Replica("r-1", ScriptedSpec(answers={"a": "one two three"}, token_delay_s=0.0))
    g = Graph()
    with g.scope("s") as s:
        s.generate("a 1", name="a1")
        s.generate("a 2", name="a2")
    await Runtime(replica, telemetry=telemetry).arun(g)
    data = points(reader)
    assert [(p.attributes["forkjoin.status"], p.value) for p in data["forkjoin.requests"]] == [("done", 2)]
    tokens = {p.attributes["forkjoin.token.type"]: p.value for p in data["forkjoin.tokens"]}
    assert tokens == {"output": 6, "prompt": 4}
    durations = {p.attributes["forkjoin.kind"]: p.count for p in data["forkjoin.node.duration"]}
    assert durations == {"generate": 2, "scope": 1}
    assert data["forkjoin.ttft"][0].count == 2
    depth = data["forkjoin.replica.queue_depth"]
    assert [p.attributes["forkjoin.replica"] for p in depth] == ["r-1"] and depth[0].value in (0, 1)


async def test_the_file_exporter_writes_one_json_line_per_span() -> None:
    out = io.StringIO()
    telemetry = Telemetry.from_env(trace_file=out)
    assert telemetry is not None
    g = Graph()
    g.generate("x", name="x")
    await Runtime(ScriptedEngine({"x": "y"}, token_delay_s=0.0), telemetry=telemetry).arun(g)
    spans = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [s["name"] for s in spans] == ["generate x", "forkjoin.graph"]
    assert spans[0]["attributes"]["forkjoin.node"] == "x"
    assert spans[0]["parent_id"] == spans[1]["context"]["span_id"]


def test_without_a_file_or_an_endpoint_there_is_no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    for signal in ("", "TRACES_", "METRICS_"):
        name = f"OTEL_EXPORTER_OTLP_{signal}ENDPOINT"
        monkeypatch.delenv(name, raising=False)
    assert Telemetry.from_env() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert Telemetry.from_env() is None


def test_an_unknown_otlp_protocol_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(TelemetryError, match=r"OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported"):
        Telemetry.from_env()


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector stub: keeps every request body by path."""

    received: dict[str, list[bytes]] = {}

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.setdefault(self.path, []).append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


async def test_otlp_export_reaches_a_collector_with_the_whole_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    Collector.received = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
        monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
        telemetry = Telemetry.from_env()
        assert telemetry is not None
        g = Graph()
        g.generate("x", name="x")
        replica = Replica("r-1", ScriptedSpec(answers={"x": "a b"}, token_delay_s=0.0))
        await Runtime(replica, telemetry=telemetry).arun(g)
        telemetry.shutdown()
    finally:
        server.shutdown()
        thread.join()
    spans = {}
    for body in Collector.received["/v1/traces"]:
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                spans.update({span.name: span for span in scope.spans})
    assert set(spans) == {"forkjoin.graph", "generate x", "engine.generate"}
    assert spans["engine.generate"].parent_span_id == spans["generate x"].span_id
    assert spans["generate x"].parent_span_id == spans["forkjoin.graph"].span_id
    assert Collector.received["/v1/metrics"], "no metrics reached the collector"
