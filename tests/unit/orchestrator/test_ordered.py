"""Answers streamed in final order: live first branch, later branches released in order."""

from __future__ import annotations

import time

import pytest

from actors import EngineDeadError, GenerateRequest, RequestError
from graphs import Graph
from orchestrator import RunAborted, RunEvent
from orchestrator.ordered import OrderedText, Output, Text, layout
from orchestrator.results import NodeStatus

SLOW = "one two three four five six seven eight"


def numbered(*prompts: str) -> Graph:
    g = Graph()
    with g.scope("answers", separator="\n", item_format="{index}. {output}", strip_markers=True) as s:
        for i, prompt in enumerate(prompts, start=1):
            s.generate(prompt, name=f"item-{i}")
    return g


def test_layout_unrolls_sinks_scopes_and_combines() -> None:
    g = Graph()
    g.generate("intro", name="intro")
    with g.scope("body", separator=" | ") as s:
        s.generate("a", name="a")
        s.generate("b", name="b")
    g.combine("{intro}: {body}!", name="all")
    g.generate("tail", name="tail")
    assert layout(g) == [
        Output("intro", live=True), Text(": "), Output("a", live=True), Text(" | "),
        Output("b", live=True), Text("!"), Text("\n\n"), Output("tail", live=True),
    ]


def test_a_stripping_scope_cleans_each_member_and_keeps_composites_whole() -> None:
    g = Graph()
    with g.scope("outer", separator="\n", item_format="- {output}", strip_markers=True) as outer:
        outer.generate("y", name="y")
        with outer.scope("inner", separator="+") as inner:
            inner.generate("z", name="z")
            inner.generate("w", name="w")
    scope = g.node("outer")
    assert layout(g) == [
        Text("- "), Output("y", live=True, scope=scope), Text("\n"), Text("- "),
        Output("inner", live=False, scope=scope),
    ]


def events(node: str, *tokens: str, output: str | None = None) -> list[RunEvent]:
    out = [RunEvent("token", node, text=t) for t in tokens]
    if output is not None:
        out.append(RunEvent("end", node, status=NodeStatus.DONE, output=output))
    return out


def test_marker_and_trailing_space_are_held_until_settled() -> None:
    ordered = OrderedText(numbered("a", "b"))
    shown = [ordered.feed(e) for e in events("item-1", " 1", ".", " Eye", " strain ", " rest")]
    assert shown == ["1. ", "", "Eye", " strain", "  rest"]
    assert ordered.feed(RunEvent("end", "item-1", status=NodeStatus.DONE, output=" 1. Eye strain  rest\n")) == "\n2. "
    assert not ordered.done
    assert ordered.feed(RunEvent("end", "item-2", status=NodeStatus.DONE, output="- b")) == "b"
    assert ordered.done


def test_a_later_branch_is_held_and_released_when_those_before_it_end() -> None:
    ordered = OrderedText(numbered("a", "b", "c"))
    assert [ordered.feed(e) for e in events("item-3", " third", "ly", output=" thirdly")] == ["1. ", "", ""]
    assert [ordered.feed(e) for e in events("item-2", " second")] == [""]
    assert ordered.feed(RunEvent("token", "item-1", text="firstly")) == "firstly"
    assert ordered.feed(RunEvent("end", "item-1", status=NodeStatus.DONE, output="firstly")) == "\n2. second"
    assert ordered.feed(RunEvent("end", "item-2", status=NodeStatus.DONE, output=" second")) == "\n3. thirdly"
    assert ordered.done


async def test_branches_stream_in_order_while_a_later_one_finishes_first(make) -> None:
    engine, runtime = make({"slow": SLOW, "fast": "1. quick", "last": "end"}, token_delay_s=0.03)
    stream = runtime.astream(numbered("slow", "fast", "last"))
    shown: list[tuple[float, str]] = []
    async for text in stream:
        shown.append((time.perf_counter(), text))
    result = stream.result
    assert result.ok
    assert "".join(text for _, text in shown) == result.answer == f"1. {SLOW}\n2. quick\n3. end"
    slow_end = next(c.end for c in engine.calls if c.prompt == "slow")
    fast_end = next(c.end for c in engine.calls if c.prompt == "fast")
    assert fast_end < slow_end, "the later branch was meant to finish first"
    live = [text for at, text in shown if at < slow_end]
    assert len(live) >= 4 and "".join(live).startswith("1. one two"), "the first branch did not stream live"
    at_second = next(at for at, text in shown if "2. quick" in text)
    assert at_second >= slow_end, "the second branch was shown before the first ended"


async def test_leaving_the_stream_early_cancels_the_run(make) -> None:
    engine, runtime = make({"slow": SLOW}, token_delay_s=0.02)
    stream = runtime.astream(numbered("slow", "slow too"))
    iterator = aiter(stream)
    assert await anext(iterator) == "1. "
    assert await anext(iterator) == "one two"
    await iterator.aclose()
    assert engine.active == set() and sorted(engine.aborted) == sorted(c.request_id for c in engine.calls)
    with pytest.raises(RuntimeError, match="the answer stream has not finished"):
        stream.result


async def test_a_failed_branch_ends_the_text_where_it_was_needed(make) -> None:
    def respond(request: GenerateRequest) -> str:
        if request.prompt == "bad":
            raise RequestError("nope")
        return "fine"

    engine, runtime = make(respond, token_delay_s=0.001)
    stream = runtime.astream(numbered("good", "bad", "good too"))
    text = "".join([piece async for piece in stream])
    assert text == "1. fine\n2. "
    assert stream.result.node("item-2").status is NodeStatus.FAILED


async def test_a_dead_engine_raises_after_the_text_shown(make) -> None:
    def respond(request: GenerateRequest) -> str:
        raise EngineDeadError("replica crashed")

    engine, runtime = make(respond)
    with pytest.raises(RunAborted, match="engine failed: replica crashed"):
        [piece async for piece in runtime.astream(numbered("a"))]
