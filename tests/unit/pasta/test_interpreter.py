"""The interpreter on the scripted engine: forks overlap the main stream, joins keep order, nesting,
fallbacks, and no request or task leaks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from actors.engine import GenerateRequest, RequestError
from actors.scripted import ScriptedEngine
from graphs import Graph, GraphSpec
from graphs.pasta import Fork, Scope, Text, joined, parse, remove_pasta
from orchestrator import Runtime
from orchestrator.errors import RunAborted
from orchestrator.pasta import MAX_STRAY_CLOSES, Interpreter, PastaConfig

# -- a reference model: what a PASTA-speaking model writes for each prefix --------


def _events(nodes) -> Iterator[tuple[str, object]]:
    for node in nodes:
        match node:
            case Text(text=text):
                yield "text", text
            case Fork() as fork:
                yield "promise", fork
            case Scope(children=children):
                yield "open", None
                yield from _events(children)
                yield "close", None


def _source(events) -> str:
    tags = {"open": "<scope>", "close": "</scope>", "promise": "<promise/>"}
    return "".join(value if kind == "text" else tags[kind] for kind, value in events)


def _view(pieces) -> str:
    return "".join("<scope>" if p is None else "<promise/>" if isinstance(p, Fork) else p for p in pieces)


def _table(nodes, base: str, end: str, table: dict[str, str]) -> None:
    """Map each prefix the interpreter will send for this thread to what the model writes next."""
    events = list(_events(nodes))
    table[base] = _source(events) + end
    pieces: list[object] = []
    marks: list[int] = []
    for i, (kind, value) in enumerate(events):
        match kind:
            case "text":
                pieces.append(value)
            case "open":
                marks.append(len(pieces))
                pieces.append(None)
            case "promise":
                pieces.append(value)
                _table(value.body or (), base + _view(pieces) + "<async>", "</async>", table)
            case "close":
                start = marks.pop()
                region = pieces[start + 1 :]
                pieces[start:] = ["".join(joined(p.body) if isinstance(p, Fork) else p for p in region)]
                table[base + _view(pieces)] = _source(events[i + 1 :]) + end


def model_writing(annotated: str) -> Callable[[GenerateRequest], str]:
    table: dict[str, str] = {}
    _table(parse(annotated).children, "", "", table)

    def respond(request: GenerateRequest) -> str:
        if request.assistant_prefix not in table:
            raise RequestError(f"unscripted prefix {request.assistant_prefix!r}")
        return table[request.assistant_prefix]

    return respond


@pytest.fixture
def engines() -> Iterator[Callable[..., ScriptedEngine]]:
    made: list[ScriptedEngine] = []

    def make(respond, **options) -> ScriptedEngine:
        made.append(ScriptedEngine(respond, **options))
        return made[-1]

    yield make
    for engine in made:
        assert engine.active == set(), f"engine requests leaked: {engine.active}"
    current = asyncio.current_task() if _loop_running() else None
    assert current is None


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def answer(engine: ScriptedEngine, prompt: str = "Q", **config) -> object:
    async def go():
        result = await Interpreter(engine, PastaConfig(**config)).answer(prompt, request_id="r")
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
        return result

    return asyncio.run(go())


CLASSIFY = (
    "Here:<scope>\nCoal is<promise/><async> flammable, it burns hot and long.</async>"
    "\nWater is<promise/><async> not flammable.</async>\nBoth are common.</scope> Two kinds."
)


def test_forks_start_while_the_main_stream_goes_on(engines) -> None:
    engine = engines(model_writing(CLASSIFY), token_delay_s=0.02)
    result = answer(engine)
    calls = {call.request_id: call for call in engine.calls}
    main, fork_1, fork_2 = calls["r/main-1"], calls["r/fork-1-1"], calls["r/fork-2-1"]
    assert fork_1.start < main.end and fork_2.start < main.end  # forked before the main stream stopped
    assert fork_1.start < fork_2.start
    assert fork_1.end > main.end  # the barrier waited for the slower fork
    assert calls["r/main-2"].start >= fork_1.end
    assert result.text == remove_pasta(CLASSIFY)
    assert result.annotated == CLASSIFY
    assert result.forks == 2 and result.used_parallelism and result.fell_back is None


def test_all_requests_share_one_affinity_key_and_forks_continue_the_prefix(engines) -> None:
    seen: list[GenerateRequest] = []
    respond = model_writing(CLASSIFY)

    def recording(request: GenerateRequest) -> str:
        seen.append(request)
        return respond(request)

    answer(engines(recording))
    assert {r.affinity_key for r in seen} == {"r"}
    forks = [r for r in seen if r.assistant_prefix.endswith("<async>")]
    assert [r.assistant_prefix for r in forks] == [
        "Here:<scope>\nCoal is<promise/><async>",
        "Here:<scope>\nCoal is<promise/>\nWater is<promise/><async>",
    ]
    assert all(r.params.stop == ("</async>", "</scope>", "<sync/>") for r in forks)
    assert seen[-1].assistant_prefix == (
        "Here:\nCoal is flammable, it burns hot and long.\nWater is not flammable.\nBoth are common."
    )


def test_join_order_follows_the_promises_not_the_finish_times(engines) -> None:
    text = "<scope>A<promise/><async> " + "slow " * 15 + "end.</async> B<promise/><async> fast.</async></scope> C"
    engine = engines(model_writing(text), token_delay_s=0.005)
    result = answer(engine)
    calls = {call.request_id: call for call in engine.calls}
    assert calls["r/fork-2-1"].end < calls["r/fork-1-1"].end
    assert result.text == "A " + "slow " * 15 + "end. B fast. C"


def test_nested_scopes_join_inner_first(engines) -> None:
    text = (
        "<scope>Outer<promise/><async> o-content.</async> then"
        "<scope> inner<promise/><async> i-content.</async></scope> after inner"
        "</scope> done"
    )
    engine = engines(model_writing(text))
    result = answer(engine)
    assert result.text == remove_pasta(text)
    assert result.annotated == text
    prefixes = [call.request_id for call in engine.calls]
    assert prefixes == ["r/main-1", "r/fork-1-1", "r/fork-2-1", "r/main-2", "r/main-3"]


def test_a_fork_can_open_its_own_scope(engines) -> None:
    text = "<scope>A<promise/><async> x<scope> y<promise/><async> z.</async></scope> w.</async> B</scope> C"
    result = answer(engines(model_writing(text)))
    assert result.text == remove_pasta(text) == "A x y z. w. B C"
    assert result.forks == 2


def test_an_answer_without_tags_is_one_plain_request(engines) -> None:
    engine = engines(lambda request: "Just a plain answer in seven words.")
    result = answer(engine)
    assert [call.request_id for call in engine.calls] == ["r/main-1"]
    assert result.text == "Just a plain answer in seven words."
    assert result.tokens == result.content_tokens == 7
    assert not result.used_parallelism and result.fell_back is None
    assert Graph.from_spec(GraphSpec.model_validate(result.graph)).sinks() == ["answer"]


def test_model_writing_async_itself_falls_back_to_sequential_text(engines) -> None:
    def respond(request: GenerateRequest) -> str:
        if request.assistant_prefix.endswith("<async>"):
            return " fork text.</async>"
        if request.assistant_prefix == "":
            return "<scope>A<promise/><async> inline text.</async> B</scope> C"
        return " and the rest <scope>with stray</scope> tags."

    result = answer(engines(respond))
    assert result.fell_back is not None and "<async>" in result.fell_back
    assert "<" not in result.text
    assert result.text == "A fork text. and the rest with stray tags."


def test_invalid_tag_forms_are_dropped_not_fatal(engines) -> None:
    result = answer(engines(lambda request: "Text <promise> more <scope/> end."))
    assert result.text == "Text  more  end."
    assert result.malformed_tags == 2


def test_a_failed_fork_leaves_its_promise_empty(engines) -> None:
    def respond(request: GenerateRequest) -> str:
        if request.assistant_prefix.endswith("<async>"):
            raise ValueError("boom")
        if request.assistant_prefix == "":
            return "<scope>A<promise/> B</scope>"
        return " C"

    result = answer(engines(respond))
    assert result.text == "A B C"
    assert result.fell_back is not None and "fork-1 failed" in result.fell_back


def test_later_dialect_sync_is_a_barrier_for_an_implicit_scope(engines) -> None:
    def respond(request: GenerateRequest) -> str:
        prefix = request.assistant_prefix
        if prefix.endswith("<async>"):
            return " one.</async>" if prefix.count("<promise/>") == 1 else " two.</async>"
        if prefix == "":
            return 'Tips: a<promise topic="x" tokens="4"/> b<promise/><sync/> end'
        return " end"

    engine = engines(respond)
    result = answer(engine)
    assert result.text == "Tips: a one. b two. end"
    # the implicit scope opens at the first promise, as the parser reads the later dialect
    assert result.annotated == "Tips: a<scope><promise/><async> one.</async> b<promise/><async> two.</async></scope> end"
    fork_budgets = sorted(call.request_id for call in engine.calls)
    assert fork_budgets == ["r/fork-1-1", "r/fork-2-1", "r/main-1", "r/main-2"]


def test_the_trace_is_a_task_graph_of_scopes_and_forks(engines) -> None:
    result = answer(engines(model_writing(CLASSIFY)), prompt="Classify coal and water")
    graph = Graph.from_spec(GraphSpec.model_validate(result.graph))
    assert [node.name for node in graph.nodes()] == ["scope-1-fork-1", "scope-1-fork-2", "scope-1", "answer"]
    assert graph.members("scope-1") == ("scope-1-fork-1", "scope-1-fork-2")


def test_the_trace_graph_replays_the_forks_as_the_same_requests(engines) -> None:
    interpreted = engines(model_writing(CLASSIFY))
    result = answer(interpreted, prompt="Classify coal and water")
    graph = Graph.from_spec(GraphSpec.model_validate(result.graph))
    replayed = engines(model_writing(CLASSIFY))
    run = Runtime(replayed).run(graph)
    assert run.ok and run.answer == result.text
    sent = {call.request_id.rsplit("/", 1)[-1]: call for call in replayed.calls}
    forks = {call.request_id.rsplit("/", 1)[-1]: call for call in interpreted.calls if "fork" in call.request_id}
    for node, fork in [("scope-1-fork-1", "fork-1-1"), ("scope-1-fork-2", "fork-2-1")]:
        assert (sent[node].prompt, sent[node].assistant_prefix) == (forks[fork].prompt, forks[fork].assistant_prefix)


def test_a_timeout_aborts_every_stream(engines) -> None:
    engine = engines(model_writing(CLASSIFY), token_delay_s=0.2)
    with pytest.raises(RunAborted, match="timed out"):
        answer(engine, timeout_s=0.9)
    assert engine.active == set()
    assert len(engine.aborted) >= 2


def test_a_dead_engine_aborts_the_answer(engines) -> None:
    engine = engines(model_writing(CLASSIFY))
    engine.dead = True
    with pytest.raises(RunAborted, match="engine failed"):
        answer(engine)


def test_token_budget_bounds_the_main_thread(engines) -> None:
    engine = engines(lambda request: "word " * 100)
    result = answer(engine, max_tokens=10)
    assert result.tokens == 10 and len(result.text.split()) == 10


def scripted(table: dict[str, str]) -> Callable[[GenerateRequest], str]:
    """A model that answers exactly these prefixes; any other request is a test failure."""

    def respond(request: GenerateRequest) -> str:
        if request.assistant_prefix not in table:
            raise AssertionError(f"unexpected request with prefix {request.assistant_prefix!r}")
        return table[request.assistant_prefix]

    return respond


def test_an_answer_ending_inside_a_scope_joins_its_forks_without_another_request() -> None:
    engine = ScriptedEngine(scripted({"": "A<scope> B<promise/>", "A<scope> B<promise/><async>": " filled.</async>"}))
    result = answer(engine)
    assert result.text == "A B filled."
    assert result.annotated == "A<scope> B<promise/><async> filled.</async></scope>"
    assert [call.request_id for call in engine.calls] == ["r/main-1", "r/fork-1-1"]
    assert [(s.name, s.finish_reason, s.stop_reason) for s in result.streams] == [
        ("main-1", "stop", None),
        ("fork-1-1", "stop", "</async>"),
    ]
    assert engine.active == set()


def test_a_fork_ending_inside_its_own_scope_joins_it_without_another_request() -> None:
    engine = ScriptedEngine(scripted({
        "": "<scope>A<promise/></scope> C",
        "<scope>A<promise/><async>": " x<scope> y<promise/></async> junk",
        "<scope>A<promise/><async> x<scope> y<promise/><async>": " z.</async>",
        "A x y z.": " C",
    }))
    result = answer(engine)
    assert result.text == "A x y z. C"
    assert result.annotated == "<scope>A<promise/><async> x<scope> y<promise/><async> z.</async></scope></async></scope> C"
    assert sorted(call.request_id for call in engine.calls) == ["r/fork-1-1", "r/fork-2-1", "r/main-1", "r/main-2"]


def test_a_stray_scope_close_is_dropped_and_the_answer_goes_on() -> None:
    engine = ScriptedEngine(scripted({
        "": "Intro.</scope> More",
        "Intro.</scope>": " More text.</scope>",
        "Intro.</scope> More text.</scope>": " End.",
    }))
    result = answer(engine)
    assert result.text == "Intro. More text. End."
    assert result.annotated == result.text
    assert result.malformed_tags == 2 and result.fell_back is None and result.forks == 0
    assert [s.stop_reason for s in result.streams] == ["</scope>", "</scope>", None]


def test_a_model_writing_only_stray_closes_is_ended() -> None:
    engine = ScriptedEngine(lambda request: " x<sync/>")
    result = answer(engine)
    assert result.text == " x" * (MAX_STRAY_CLOSES + 1)
    assert len(engine.calls) == MAX_STRAY_CLOSES + 1 and result.malformed_tags == MAX_STRAY_CLOSES + 1


def test_a_stray_close_in_a_fork_ends_the_fork() -> None:
    engine = ScriptedEngine(scripted({
        "": "<scope>A<promise/></scope> C",
        "<scope>A<promise/><async>": " a.</scope> junk",
        "A a.": " C",
    }))
    result = answer(engine)
    assert result.text == "A a. C"
    assert result.annotated == "<scope>A<promise/><async> a.</async></scope> C"


# -- property: any valid annotated answer is reproduced exactly -------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from graphs.pasta import render  # noqa: E402

segment = st.lists(st.sampled_from([" alpha", " beta", " gamma delta", "\nline", " x."]), min_size=1, max_size=3).map("".join)


@st.composite
def scope_text(draw: st.DrawFn, depth: int = 0) -> str:
    parts = ["<scope>", draw(segment)]
    for _ in range(draw(st.integers(1, 3))):
        body = draw(segment)
        if depth < 1 and draw(st.booleans()):
            body += draw(scope_text(depth + 1)) + draw(segment)
        parts += ["<promise/><async>", body, "</async>", draw(segment)]
    if depth < 1 and draw(st.booleans()):
        parts += [draw(scope_text(depth + 1)), draw(segment)]
    return "".join([*parts, "</scope>"])


answers = st.lists(st.one_of(segment, scope_text()), min_size=1, max_size=3).map("".join)


@settings(max_examples=40, deadline=None)
@given(answers)
def test_any_valid_answer_is_reproduced_with_forks_joined_in_order(text: str) -> None:
    engine = ScriptedEngine(model_writing(text), token_delay_s=0.0)
    # The generator can write more promises than the default max_forks (32; 33 seen): allow exactly them all.
    result = answer(engine, max_forks=text.count("<promise/>"))
    assert result.text == remove_pasta(text)
    assert result.annotated == render(parse(text))
    assert result.forks == text.count("<promise/>")
    assert result.fell_back is None and engine.active == set()


def test_forks_copying_promises_do_not_fork_without_end() -> None:
    def respond(request: GenerateRequest) -> str:
        if request.assistant_prefix.endswith("<async>"):
            return " copy<promise/> again<scope> in<promise/></scope> done.</async>"
        return "<scope>A<promise/> B<promise/></scope> C" if request.assistant_prefix == "" else " C"

    engine = ScriptedEngine(respond, token_delay_s=0.0)
    limited = answer(engine, max_fork_depth=2, max_forks=50)
    # main forks 2; each fork drops its bare promise, forks once inside its own scope; depth 2 forks no more
    assert limited.forks == 4
    assert limited.malformed_tags == 2 + 2 * 2
    capped = answer(ScriptedEngine(respond, token_delay_s=0.0), max_forks=3)
    assert capped.forks == 3
