"""The pool's failover rule without Ray: how a request continues on another replica."""

from __future__ import annotations

import pytest

from actors.engine import Chunk, GenerateRequest, RequestError
from actors.failover import Progress, account, continuation
from actors.pool import PoolConfig
from actors.replica import ScriptedSpec, VllmSpec
from graphs.params import SamplingParams


def progressed(*texts: str) -> Progress:
    progress = Progress()
    for i, text in enumerate(texts):
        account(Chunk(text=text, tokens=1, prompt_tokens=7 if i == 0 else None), progress, resumed=False)
    return progress


def test_a_request_with_no_output_yet_is_sent_again_as_is() -> None:
    request = GenerateRequest(request_id="n", prompt="p")
    assert continuation(request, Progress(), 1) is request
    again = continuation(request, Progress(), 2)
    assert again is not None and again.request_id == "n~2" and again.prompt == "p"


def test_partial_output_becomes_the_assistant_prefix() -> None:
    request = GenerateRequest(request_id="n", prompt="p", assistant_prefix="So: ",
                              params=SamplingParams(max_tokens=10, stop=("END",)))
    resumed = continuation(request, progressed("one", " two"), 2)
    assert resumed is not None
    assert resumed.assistant_prefix == "So: one two"
    assert resumed.prompt == "p"
    assert resumed.params.max_tokens == 8 and resumed.params.stop == ("END",)


def test_raw_prompts_continue_in_the_prompt() -> None:
    request = GenerateRequest(request_id="n", prompt="raw text:", raw=True)
    resumed = continuation(request, progressed(" more"), 2)
    assert resumed is not None and resumed.prompt == "raw text: more" and resumed.assistant_prefix == ""


def test_nothing_left_to_generate_ends_the_stream() -> None:
    request = GenerateRequest(request_id="n", prompt="p", params=SamplingParams(max_tokens=2))
    assert continuation(request, progressed("a", "b"), 2) is None


def test_structured_output_cannot_resume() -> None:
    request = GenerateRequest(request_id="n", prompt="p", json_schema={"type": "object"})
    with pytest.raises(RequestError, match="structured output cannot resume"):
        continuation(request, progressed("{"), 2)


def test_resumed_chunks_do_not_count_the_prompt_twice() -> None:
    progress = progressed("a")
    chunk = account(Chunk(text="b", tokens=1, prompt_tokens=9, cached_tokens=9), progress, resumed=True)
    assert chunk.prompt_tokens is None and chunk.cached_tokens is None
    assert progress.text == "ab" and progress.tokens == 2


def test_a_continued_stream_keeps_the_final_chunks_stop_reason() -> None:
    progress = progressed("one")
    final = Chunk(text=" two", tokens=1, finish_reason="stop", stop_reason="</scope>", prompt_tokens=5)
    delivered = account(final, progress, resumed=True)
    assert (delivered.finish_reason, delivered.stop_reason, delivered.prompt_tokens) == ("stop", "</scope>", None)
    assert progress.finished and progress.text == "one two"


def test_engine_spec_is_a_discriminated_union() -> None:
    config = PoolConfig.model_validate({"spec": {"kind": "vllm", "engine": {"model": "m"}}})
    assert isinstance(config.spec, VllmSpec) and config.spec.engine.model == "m"
    config = PoolConfig.model_validate({"spec": {"kind": "scripted", "token_delay_s": 0}})
    assert isinstance(config.spec, ScriptedSpec)
    with pytest.raises(ValueError, match="does not match any of the expected tags"):
        PoolConfig.model_validate({"spec": {"kind": "tpu"}})
