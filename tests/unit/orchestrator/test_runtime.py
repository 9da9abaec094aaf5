"""The scheduler, proven by timing on the scripted engine.

Delays are chosen so that overlapping and serial executions differ by
several times the scheduling noise of a loaded 2-core machine.
"""

from __future__ import annotations

import asyncio

import pytest

from actors import EngineDeadError, GenerateRequest, RequestError
from actors.coalesce import CoalesceConfig
from graphs import Graph
from orchestrator import NodeStatus, RunAborted, RunEvent, RuntimeConfig

WORDS = "one two three four five six seven eight nine ten"


def fan_out(n: int, *, tokens: int = 48) -> Graph:
    g = Graph()
    with g.scope("all", separator="\n", item_format="{index}. {output}") as s:
        for i in range(n):
            s.generate(f"task {i}", name=f"t{i}", max_tokens=tokens)
    g.generate("Summarize:\n{all}", name="summary")
    return g


def interval(engine, prompt_part: str):
    call = next(c for c in engine.calls if prompt_part in c.prompt)
    return call.start, call.end


async def test_independent_nodes_overlap_in_time(make) -> None:
    engine, runtime = make({"task": WORDS, "Summarize": "done"}, token_delay_s=0.02)
    result = await runtime.arun(fan_out(4))
    assert result.ok
    spans = [interval(engine, f"task {i}") for i in range(4)]
    latest_start = max(start for start, _ in spans)
    earliest_end = min(end for _, end in spans)
    assert latest_start < earliest_end, "the four independent generations did not run at the same time"
    serial = 4 * 10 * 0.02
    assert result.wall_s < serial, f"wall {result.wall_s:.3f}s is not below the serial {serial:.3f}s"


async def test_scope_successor_starts_after_every_member_ends(make) -> None:
    answers = {"task 0": "a", "task 1": WORDS, "task 2": "b c", "Summarize": "s"}
    engine, runtime = make(answers, token_delay_s=0.02)
    result = await runtime.arun(fan_out(3))
    last_member_end = max(interval(engine, f"task {i}")[1] for i in range(3))
    summary_start, _ = interval(engine, "Summarize")
    assert summary_start >= last_member_end
    assert result.node("all").text == "1. a\n2. one two three four five six seven eight nine ten\n3. b c"
    assert engine.calls[-1].prompt == "Summarize:\n" + result.node("all").text
    assert result.answer == "s"


async def test_nested_scopes_join_inside_out(make) -> None:
    g = Graph()
    with g.scope("outer", separator=" | ") as outer:
        outer.generate("x", name="x")
        with outer.scope("inner", separator="+") as inner:
            inner.generate("slow", name="slow")
            inner.generate("fast", name="fast")
    g.generate("after {outer}", name="after")
    engine, runtime = make({"slow": WORDS, "fast": "f", "x": "X", "after": "end"}, token_delay_s=0.01)
    result = await runtime.arun(g)
    nodes = {n.name: n for n in result.nodes}
    assert nodes["inner"].text == WORDS + "+f"
    assert nodes["outer"].text == "X | " + WORDS + "+f"
    assert nodes["inner"].start_s >= max(nodes["slow"].end_s, nodes["fast"].end_s)
    assert nodes["outer"].start_s >= nodes["inner"].end_s
    assert nodes["after"].start_s >= nodes["outer"].end_s


async def test_concurrency_limit_is_respected(make) -> None:
    engine, runtime = make({"task": "a b c d"}, token_delay_s=0.01, config=RuntimeConfig(max_concurrency=2))
    peak = 0

    def watch(event: RunEvent) -> None:
        nonlocal peak
        peak = max(peak, len(engine.active))

    result = await runtime.arun(fan_out(6, tokens=4), on_event=watch)
    assert result.ok and peak == 2


async def test_failure_is_isolated_and_dependents_are_skipped(make) -> None:
    def respond(request: GenerateRequest) -> str:
        if "task 1" in request.prompt:
            raise RequestError("prompt too long")
        return "fine"

    g = fan_out(3)
    g.generate("independent", name="solo")
    g.combine("{t0} and {t2}", name="pair")
    engine, runtime = make(respond, token_delay_s=0.005)
    result = await runtime.arun(g)
    assert not result.ok
    assert result.by_status(NodeStatus.FAILED) == ["t1"]
    assert result.node("t1").error == "prompt too long"
    assert result.by_status(NodeStatus.SKIPPED) == ["all", "summary"]
    assert result.node("summary").error == "dependency 't1' failed"
    assert set(result.by_status(NodeStatus.DONE)) == {"t0", "t2", "solo", "pair"}
    assert result.node("pair").text == "fine and fine"
    assert "Summarize" not in " ".join(c.prompt for c in engine.calls)


async def test_node_timeout_fails_the_node_and_aborts_its_request(make) -> None:
    g = Graph()
    g.generate("slow", name="slow", timeout_s=0.1)
    g.generate("quick", name="quick")
    engine, runtime = make({"slow": WORDS * 5, "quick": "q"}, token_delay_s=0.02)
    result = await runtime.arun(g)
    assert result.node("slow").status is NodeStatus.FAILED
    assert result.node("slow").error == "timed out after 0.1 s"
    assert result.node("quick").status is NodeStatus.DONE
    assert [c.outcome for c in engine.calls if c.prompt == "slow"] == ["aborted"]


async def test_cancelling_a_run_aborts_in_flight_generations(make) -> None:
    engine, runtime = make({"task": WORDS * 10}, token_delay_s=0.02)
    task = asyncio.create_task(runtime.arun(fan_out(3)))
    await asyncio.sleep(0.1)
    assert len(engine.active) == 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(engine.aborted) == sorted(c.request_id for c in engine.calls)
    assert len(engine.aborted) == 3


async def test_run_timeout_aborts_with_partial_result(make) -> None:
    g = Graph()
    g.generate("quick", name="quick")
    g.generate("slow", name="slow")
    config = RuntimeConfig(run_timeout_s=0.2)
    engine, runtime = make({"quick": "q", "slow": WORDS * 10}, token_delay_s=0.02, config=config)
    with pytest.raises(RunAborted, match="run timed out after 0.2 s") as info:
        await runtime.arun(g)
    partial = info.value.result
    assert partial.node("quick").text == "q"
    assert partial.node("slow").status is NodeStatus.CANCELLED
    assert engine.aborted == [c.request_id for c in engine.calls if c.prompt == "slow"]


async def test_dead_engine_aborts_the_run(make) -> None:
    def respond(request: GenerateRequest) -> str:
        if "task 0" in request.prompt:
            raise EngineDeadError("replica crashed")
        return WORDS

    engine, runtime = make(respond, token_delay_s=0.02)
    with pytest.raises(RunAborted, match="engine failed: replica crashed") as info:
        await runtime.arun(fan_out(3))
    statuses = {n.name: n.status for n in info.value.result.nodes}
    assert statuses["t0"] is NodeStatus.FAILED
    assert statuses["t1"] is statuses["t2"] is NodeStatus.CANCELLED
    assert statuses["summary"] is NodeStatus.SKIPPED


async def test_tokens_stream_as_they_arrive(make) -> None:
    engine, runtime = make({"hello": "a b c"}, token_delay_s=0.01)
    g = Graph()
    g.generate("hello", name="h")
    events: list[RunEvent] = []
    result = await runtime.arun(g, on_event=events.append)
    assert [e.kind for e in events] == ["start", "token", "token", "token", "end"]
    assert "".join(e.text for e in events) == "a b c" == result.answer
    assert result.node("h").tokens == 3 and result.node("h").ttft_s < result.node("h").end_s


async def test_stop_strings_and_max_tokens_reach_the_engine(make) -> None:
    engine, runtime = make({"list": "one two. three four"}, token_delay_s=0.0)
    g = Graph()
    g.generate("list a", name="stopped", stop=["."])
    g.generate("list b", name="short", max_tokens=2)
    result = await runtime.arun(g)
    assert result.node("stopped").text == "one two"
    assert result.node("stopped").finish_reason == "stop"
    assert result.node("short").text == "one two." and result.node("short").finish_reason == "length"


async def test_many_graphs_share_one_limit_and_are_pulled_lazily(make) -> None:
    config = RuntimeConfig(max_concurrency=4, max_graphs_in_flight=3)
    engine, runtime = make({"task": "a b"}, token_delay_s=0.01, config=config)
    pulled = 0

    def source():
        nonlocal pulled
        for _ in range(20):
            pulled += 1
            yield fan_out(3, tokens=2)

    peak_active = 0

    def watch(event: RunEvent) -> None:
        nonlocal peak_active
        peak_active = max(peak_active, len(engine.active))

    seen = []
    async for index, result in runtime.arun_many(source(), on_event=watch):
        assert result.ok
        seen.append(index)
        assert pulled - len(seen) <= 3, "more graphs were held than max_graphs_in_flight"
    assert sorted(seen) == list(range(20))
    assert peak_active <= 4


async def test_many_graphs_report_invalid_ones_and_go_on(make) -> None:
    bad = Graph()
    bad.generate("{missing}", name="x")
    engine, runtime = make({"task": "ok"}, token_delay_s=0.0)
    results = dict([item async for item in runtime.arun_many([fan_out(2), bad, fan_out(2)])])
    assert results[0].ok and results[2].ok
    assert results[1].error == "node 'x': placeholder {missing} names no node"


def test_sync_run_refuses_inside_an_event_loop(make) -> None:
    engine, runtime = make()

    async def inside() -> None:
        g = Graph()
        g.generate("x", name="x")
        with pytest.raises(RuntimeError, match="use 'await runtime.arun"):
            runtime.run(g)

    asyncio.run(inside())


def test_sync_run_works_twice(make) -> None:
    engine, runtime = make({"x": "y"}, token_delay_s=0.0)
    g = Graph()
    g.generate("x", name="x")
    assert runtime.run(g).answer == runtime.run(g).answer == "y"


def test_module_level_run_on_a_given_engine() -> None:
    import orchestrator
    from actors import ScriptedEngine

    g = Graph()
    g.generate("x", name="x")
    assert orchestrator.run(g, engine=ScriptedEngine({"x": "hello"}, token_delay_s=0.0)).answer == "hello"


async def test_the_rendered_assistant_prefix_reaches_the_engine(make) -> None:
    g = Graph()
    g.generate("Name a {{colour}}.", name="first")
    g.generate("Name a colour.", name="second", assistant_prefix="First: {first}. Then {{x}}:")
    engine, runtime = make({"Name a {colour}.": "red", "Name a colour.": "blue"})
    result = await runtime.arun(g)
    assert result.ok and result.node("second").text == "blue"
    prefixes = {call.request_id.rsplit("/", 1)[-1]: call.assistant_prefix for call in engine.calls}
    assert prefixes == {"first": "", "second": "First: red. Then {x}:"}


LOOP = "The same sentence comes again and again in this answer. "


async def test_a_node_that_falls_into_a_loop_is_stopped_and_its_request_aborted(make) -> None:
    g = Graph()
    g.generate("loop", name="loop", max_tokens=2000)
    engine, runtime = make({"loop": "Start. " + LOOP * 60}, token_delay_s=0.0)
    result = await runtime.arun(g)
    record = result.node("loop")
    assert record.status is NodeStatus.DONE and record.finish_reason == "loop"
    assert record.text.startswith("Start. " + LOOP * 4) and len(record.text) < len("Start. " + LOOP * 10)
    assert [c.outcome for c in engine.calls] == ["aborted"]


async def test_loops_run_to_the_end_when_loop_stopping_is_off(make) -> None:
    g = Graph()
    g.generate("loop", name="loop", max_tokens=2000)
    engine, runtime = make({"loop": LOOP * 20}, token_delay_s=0.0, config=RuntimeConfig(stop_loops=False))
    result = await runtime.arun(g)
    assert result.node("loop").text == (LOOP * 20).strip()
    assert result.node("loop").finish_reason == "stop"


async def test_a_run_no_one_watches_asks_replicas_for_fewer_chunks(make) -> None:
    engine, runtime = make({"task": WORDS, "Summarize": "done"}, token_delay_s=0.0)
    assert (await runtime.arun(fan_out(2))).ok
    quiet = RuntimeConfig().unwatched_chunk_interval_s
    assert quiet is not None and quiet > CoalesceConfig().interval_s  # longer than a replica's own
    assert [c.chunk_interval_s for c in engine.calls] == [quiet] * 3
    engine.calls.clear()
    events: list[RunEvent] = []
    assert (await runtime.arun(fan_out(2), on_event=events.append)).ok
    assert [c.chunk_interval_s for c in engine.calls] == [None] * 3  # watched: the replica's own interval
    assert any(e.kind == "token" for e in events)
