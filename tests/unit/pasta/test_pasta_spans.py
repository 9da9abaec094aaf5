"""PASTA forks are spans: answer -> main thread -> fork, each engine request under the thread that made it."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors.engine import GenerateRequest
from actors.replica import Replica, ScriptedSpec
from actors.scripted import ScriptedEngine
from orchestrator.pasta import Interpreter, PastaConfig
from orchestrator.tracing import Telemetry


def respond(request: GenerateRequest) -> str:
    if request.assistant_prefix.endswith("<async>"):
        return " forked</async>"
    if request.assistant_prefix == "":
        return "Items:<scope> x<promise/></scope>"
    return " done."


async def test_the_fork_is_a_child_of_the_main_thread_and_engine_spans_of_their_threads() -> None:
    exporter = InMemorySpanExporter()
    telemetry = Telemetry([SimpleSpanProcessor(exporter)])
    replica = Replica("r-1", ScriptedSpec())
    replica._engine = ScriptedEngine(respond, token_delay_s=0.0)  # a replica around a prefix-scripted model
    result = await Interpreter(replica, PastaConfig(), telemetry=telemetry).answer("Q", request_id="r")
    assert result.text == "Items: x forked done." and result.forks == 1
    spans = exporter.get_finished_spans()
    named = {span.name: span for span in spans if span.name != "engine.generate"}
    assert set(named) == {"pasta.answer", "pasta.main main", "pasta.fork fork-1"}
    assert named["pasta.answer"].attributes["forkjoin.pasta.forks"] == 1
    assert named["pasta.main main"].parent.span_id == named["pasta.answer"].context.span_id
    assert named["pasta.fork fork-1"].parent.span_id == named["pasta.main main"].context.span_id
    parents = {
        span.attributes["forkjoin.request_id"]: span.parent.span_id for span in spans if span.name == "engine.generate"
    }
    main, fork = named["pasta.main main"].context.span_id, named["pasta.fork fork-1"].context.span_id
    assert parents == {"r/main-1": main, "r/main-2": main, "r/fork-1-1": fork}
