"""The scripted engine's stop strings: it cuts the answer where vLLM would and says which string matched."""

from __future__ import annotations

import asyncio

from actors.engine import Chunk, GenerateRequest
from actors.scripted import ScriptedEngine
from graphs.params import SamplingParams


def play(answer: str, *, stop: tuple[str, ...] = (), max_tokens: int = 16) -> list[Chunk]:
    engine = ScriptedEngine(lambda request: answer, token_delay_s=0.0)
    request = GenerateRequest(request_id="r", prompt="Q", params=SamplingParams(max_tokens=max_tokens, stop=stop))

    async def go() -> list[Chunk]:
        return [chunk async for chunk in engine.generate(request)]

    chunks = asyncio.run(go())
    assert engine.active == set()
    return chunks


def test_the_earliest_stop_string_ends_the_answer_and_is_reported() -> None:
    chunks = play("one two</scope> three<sync/>", stop=("<sync/>", "</scope>"))
    assert "".join(c.text for c in chunks) == "one two"
    assert (chunks[-1].finish_reason, chunks[-1].stop_reason) == ("stop", "</scope>")
    assert all(c.stop_reason is None for c in chunks[:-1])


def test_an_answer_that_ends_by_itself_has_no_stop_reason() -> None:
    chunks = play("one two", stop=("</scope>",))
    assert (chunks[-1].finish_reason, chunks[-1].stop_reason) == ("stop", None)


def test_running_out_of_tokens_before_the_stop_string_is_length() -> None:
    chunks = play("one two three</scope>", stop=("</scope>",), max_tokens=2)
    assert "".join(c.text for c in chunks) == "one two"
    assert (chunks[-1].finish_reason, chunks[-1].stop_reason) == ("length", None)
