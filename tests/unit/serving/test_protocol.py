"""OpenAI request bodies: what is honoured, what is ignored, and the 400s that name the field."""

from __future__ import annotations

import pytest

from orchestrator.serving import ApiError, ChatRequest, CompletionRequest, parse_request
from orchestrator.strategies import Strategy

USER = [{"role": "user", "content": "hi"}]


def chat(**fields) -> dict:
    return {"model": "m", "messages": USER, **fields}


def test_unknown_fields_are_ignored_and_forkjoin_options_are_read() -> None:
    request = parse_request(ChatRequest, chat(frequency_penalty=0.5, user="u", forkjoin={"strategy": "serial"}))
    assert request.forkjoin.as_strategy is Strategy.SERIAL
    assert not hasattr(request, "frequency_penalty")


def test_defaults_leave_sampling_to_the_plan() -> None:
    request = parse_request(ChatRequest, chat())
    assert (request.max_tokens, request.temperature, request.top_p, request.seed) == (None, None, None, None)
    assert request.forkjoin.as_strategy is Strategy.AUTO
    assert request.stops == () and not request.stream and not request.include_usage


def test_stop_is_a_string_or_a_list() -> None:
    assert parse_request(ChatRequest, chat(stop="END")).stops == ("END",)
    assert parse_request(ChatRequest, chat(stop=["a", "b"])).stops == ("a", "b")


def test_content_parts_are_joined_and_max_completion_tokens_wins() -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    request = parse_request(ChatRequest, chat(messages=parts, max_tokens=9, max_completion_tokens=5))
    assert request.messages[0].text == "ab"
    assert request.token_cap == 5


def test_a_completion_prompt_may_be_a_list_of_one() -> None:
    assert parse_request(CompletionRequest, {"model": "m", "prompt": ["once"]}).text == "once"


@pytest.mark.parametrize(("body", "param", "message"), [
    (chat(temperature=2.5), "temperature", "temperature: Input should be less than or equal to 2"),
    (chat(top_p=0), "top_p", "top_p: Input should be greater than 0"),
    (chat(max_tokens=0), "max_tokens", "max_tokens: Input should be greater than or equal to 1"),
    (chat(stop=["a"] * 5), "stop", "stop: Value error, at most 4 stop strings, got 5"),
    (chat(stop=""), "stop", "stop: Value error, stop strings must not be empty"),
    (chat(n=2), "n", "n: Input should be less than or equal to 1"),
    (chat(forkjoin={"strategy": "fast"}), "forkjoin.strategy", "forkjoin.strategy: Input should be 'auto', 'serial' or 'parallel'"),
    (chat(forkjoin={"strategy": "auto", "x": 1}), "forkjoin.x", "forkjoin.x: Extra inputs are not permitted"),
    (chat(messages=[]), "messages", "messages: List should have at least 1 item after validation, not 0"),
    (chat(messages=[{"role": "assistant", "content": "x"}]), "messages",
     "messages: Value error, the last message must be the user's, not 'assistant'"),
    ({"messages": USER}, "model", "model: Field required"),
])
def test_invalid_chat_fields_are_400_naming_the_field(body: dict, param: str, message: str) -> None:
    with pytest.raises(ApiError, match=f"^{message}") as caught:
        parse_request(ChatRequest, body)
    assert (caught.value.status, caught.value.param) == (400, param)
    assert caught.value.body() == {"error": {"message": caught.value.message, "type": "invalid_request_error",
                                             "param": param, "code": None}}


def test_a_completion_with_two_prompts_is_refused() -> None:
    with pytest.raises(ApiError, match="^prompt: Value error, exactly one prompt per request is served, got 2$"):
        parse_request(CompletionRequest, {"model": "m", "prompt": ["a", "b"]})


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ApiError, match="^the request body must be a JSON object$") as caught:
        parse_request(ChatRequest, ["not", "an", "object"])
    assert caught.value.status == 400
