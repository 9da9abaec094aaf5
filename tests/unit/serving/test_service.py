"""The endpoint's logic on a scripted engine: plans, sampling fields, answers, streams, admission, health."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from actors import GenerateRequest, RequestError, ScriptedEngine
from graphs import GenerateNode
from orchestrator.serving import ApiError, ChatRequest, CompletionRequest, Kind, Service, ServiceConfig, parse_request
from orchestrator.serving.service import conversation

LIST_PROMPT = "Give three short tips for staying focused while studying."
PLAIN_PROMPT = "What is the capital of France?"
TRANSLATE_PROMPT = "Translate these words to French: cat, dog, house."


@pytest.fixture
def engines() -> Iterator[list[ScriptedEngine]]:
    made: list[ScriptedEngine] = []
    yield made
    for engine in made:
        assert engine.active == set(), f"engine requests leaked: {engine.active}"


@pytest.fixture
def make(engines: list[ScriptedEngine]):
    def build(respond=None, *, max_pending: int = 8, liveness=None, **options) -> tuple[ScriptedEngine, Service]:
        engine = ScriptedEngine(respond, **options)
        engines.append(engine)
        service = Service(engine, ServiceConfig(model="m", max_pending=max_pending), liveness=liveness)
        return engine, service
    return build


def ask(prompt: str = LIST_PROMPT, **fields) -> ChatRequest:
    return parse_request(ChatRequest, {"model": "m", "messages": [{"role": "user", "content": prompt}], **fields})


def generations(service: Service, request: ChatRequest) -> list[GenerateNode]:
    return [n for n in service.prepare(request).graph.nodes() if isinstance(n, GenerateNode)]


def test_a_list_prompt_runs_parallel_and_a_plain_one_serial(make) -> None:
    _, service = make()
    assert service.prepare(ask()).executed.value == "parallel"
    assert service.prepare(ask(PLAIN_PROMPT)).executed.value == "serial"
    forced = service.prepare(ask(forkjoin={"strategy": "serial"}))
    assert (forced.executed.value, len(forced.graph)) == ("serial", 1)


def test_parallel_without_structure_is_400_on_the_strategy(make) -> None:
    _, service = make()
    with pytest.raises(ApiError, match="^no parallel plan for this prompt") as caught:
        service.prepare(ask(PLAIN_PROMPT, forkjoin={"strategy": "parallel"}))
    assert (caught.value.status, caught.value.param) == (400, "forkjoin.strategy")


def test_an_unknown_model_is_404_and_an_empty_prompt_400(make) -> None:
    _, service = make()
    with pytest.raises(ApiError, match="^The model 'other' does not exist; this server serves 'm'.$") as caught:
        service.prepare(parse_request(ChatRequest, {"model": "other", "messages": [{"role": "user", "content": "x"}]}))
    assert (caught.value.status, caught.value.code) == (404, "model_not_found")
    with pytest.raises(ApiError, match="^the prompt is empty$"):
        service.prepare(parse_request(CompletionRequest, {"model": "m", "prompt": "  "}))


def test_the_request_sampling_fields_reach_every_generation(make) -> None:
    _, service = make()
    nodes = generations(service, ask(TRANSLATE_PROMPT, max_tokens=20, temperature=0.3, top_p=0.9, seed=7, stop=["END"]))
    assert len(nodes) == 3
    assert all(n.params.max_tokens <= 20 and n.params.temperature == 0.3 and n.params.top_p == 0.9 for n in nodes)
    assert all(n.params.stop[-1] == "END" for n in nodes)
    assert [n.params.seed for n in nodes] == [7, 8, 9]


def test_repeated_branches_keep_their_temperature_so_greedy_cannot_make_them_equal(make) -> None:
    _, service = make()
    nodes = generations(service, ask(temperature=0, seed=7))
    assert [(n.params.temperature, n.params.seed) for n in nodes] == [(0.8, 7), (0.8, 8), (0.8, 9)]
    assert all(len(n.params.stop) > 1 for n in nodes)  # the compiler's stops at the next item stay
    hotter = generations(service, ask(temperature=1.5))
    assert [(n.params.temperature, n.params.seed) for n in hotter] == [(1.5, 1), (1.5, 2), (1.5, 3)]


def test_unset_fields_keep_the_plan_and_the_server_cap(make) -> None:
    _, service = make()
    [node] = generations(service, ask(PLAIN_PROMPT))
    assert (node.params.max_tokens, node.params.temperature, node.params.seed) == (512, 0.0, None)


def test_system_messages_and_earlier_turns_become_the_system_text(make) -> None:
    _, service = make()
    messages = [{"role": "system", "content": "Be brief {x}."}, {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi!"}, {"role": "user", "content": PLAIN_PROMPT}]
    request = parse_request(ChatRequest, {"model": "m", "messages": messages})
    prompt, system = conversation(request)
    assert prompt == PLAIN_PROMPT
    assert system == "Be brief {x}.\n\nThe conversation so far:\nUser: Hello\nAssistant: Hi!"
    [node] = generations(service, request)
    assert node.system == "Be brief {{x}}.\n\nThe conversation so far:\nUser: Hello\nAssistant: Hi!"


def test_a_completion_is_the_run_answer_with_usage_and_forkjoin_fields(make) -> None:
    _, service = make(token_delay_s=0.0)
    request = ask()
    chosen = service.prepare(request)
    body = asyncio.run(service.complete(Kind.CHAT, request, chosen))
    answer = body["choices"][0]["message"]["content"]
    assert [line[:3] for line in answer.splitlines() if line[:1].isdigit()] == ["1. ", "2. ", "3. "]
    usage = body["usage"]
    assert usage["completion_tokens"] == len(answer.split()) - 3  # the three "N." markers are the join's
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    info = body["forkjoin"]
    assert (info["strategy"], info["requested"], info["nodes"], info["generations"]) == ("parallel", "auto", 4, 3)
    assert info["predicted_latency_s"] == chosen.prediction.parallel_s and info["latency_s"] > 0
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")


def _fail_second(request: GenerateRequest) -> str:
    if "item 2 of 3" in request.prompt:
        raise RequestError("prompt too long")
    return "fine"


def test_a_failed_node_is_500_naming_it_and_a_dead_engine_503(make) -> None:
    _, service = make(_fail_second, token_delay_s=0.0)
    request = ask()
    with pytest.raises(ApiError, match=r"^node item-2 failed: .*prompt too long") as caught:
        asyncio.run(service.complete(Kind.CHAT, request, service.prepare(request)))
    assert caught.value.status == 500
    engine, service = make(token_delay_s=0.0)
    engine.dead = True
    with pytest.raises(ApiError, match="^engine failed: engine scripted is dead$") as caught:
        asyncio.run(service.complete(Kind.CHAT, request, service.prepare(request)))
    assert (caught.value.status, caught.value.retry_after_s) == (503, 5)


async def _collect(service: Service, kind: Kind, request) -> list[dict]:
    return [chunk async for chunk in service.stream(kind, request, service.prepare(request))]


def test_the_stream_is_the_answer_in_final_order_then_finish_and_usage(make) -> None:
    _, service = make(lambda request: f"tip {request.prompt.count('item')}", token_delay_s=0.001)
    request = ask(stream=True, stream_options={"include_usage": True})
    chunks = asyncio.run(_collect(service, Kind.CHAT, request))
    whole = asyncio.run(service.complete(Kind.CHAT, request, service.prepare(request)))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == whole["choices"][0]["message"]["content"]
    final, usage = chunks[-2], chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop" and final["forkjoin"]["strategy"] == "parallel"
    assert usage["choices"] == [] and usage["usage"] == whole["usage"]
    assert len({c["id"] for c in chunks}) == 1


def test_a_completion_stream_has_text_chunks_and_no_role(make) -> None:
    _, service = make(token_delay_s=0.0)
    request = parse_request(CompletionRequest, {"model": "m", "prompt": PLAIN_PROMPT, "stream": True})
    chunks = asyncio.run(_collect(service, Kind.COMPLETION, request))
    assert "".join(c["choices"][0]["text"] for c in chunks) == f"answer to: {PLAIN_PROMPT}"
    assert all(c["object"] == "text_completion" for c in chunks) and "usage" not in chunks[-1]


def test_a_failing_stream_ends_with_an_error_chunk(make) -> None:
    _, service = make(_fail_second, token_delay_s=0.0)
    chunks = asyncio.run(_collect(service, Kind.CHAT, ask(stream=True)))
    assert chunks[-1]["error"]["type"] == "server_error"
    assert chunks[-1]["error"]["message"].startswith("node item-2 failed")


def test_closing_a_stream_early_aborts_every_engine_request(make) -> None:
    engine, service = make({"item": " ".join(["word"] * 200)}, token_delay_s=0.01)

    async def read_two() -> None:
        request = ask(stream=True)
        stream = service.stream(Kind.CHAT, request, service.prepare(request))
        for _ in range(2):
            await anext(stream)
        await stream.aclose()

    asyncio.run(read_two())
    assert engine.active == set()
    assert len(engine.aborted) == 3  # all three branches were running and were aborted


def test_admission_refuses_beyond_the_depth_with_retry_after(make) -> None:
    _, service = make(max_pending=2)
    first, second = service.admit(), service.admit()
    with pytest.raises(ApiError, match=r"^The server is at its queue depth \(2 requests\); retry after 1 s.$") as caught:
        service.admit()
    assert (caught.value.status, caught.value.headers()) == (429, {"Retry-After": "1"})
    first.release()
    first.release()  # idempotent
    assert service.pending == 1
    with service.admit():
        assert service.pending == 2
    second.release()
    assert service.pending == 0


def test_health_is_ok_with_a_live_replica_and_degraded_without(make) -> None:
    _, service = make()
    assert asyncio.run(service.health())["status"] == "ok"

    async def none_live() -> int:
        return 0

    _, service = make(liveness=none_live)
    report = asyncio.run(service.health())
    assert (report["status"], report["live_replicas"], report["max_pending"]) == ("degraded", 0, 8)
