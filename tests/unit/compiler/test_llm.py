"""The LLM-assisted extractor: prompt, JSON parsing, validation, and the engine round trip."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("opentelemetry", reason="orchestrator needs the project venv (.venv/bin/python -m pytest)")

from actors.scripted import ScriptedEngine
from graphs.compiler import Tier
from graphs.compiler.llm import (
    ExtractionReplyError,
    extraction_json_schema,
    extraction_prompt,
    has_parallel_signals,
    parse_extraction,
)
from actors.engine import EngineDeadError
from orchestrator.extract_llm import Extractor, extract, extract_many, extract_one, extraction_request

REPLY = json.dumps({
    "parallelizable": True, "category": "Translation", "template": "Translate into French: {data}",
    "context": "", "data": ["the cat sleeps", "the dog barks"], "n": None,
})
# Rules see no structure here (no list, no count), but the prompt has a signal ("each").
UNSURE = "Put each of my two sentences into French please, the cat sleeps and also the dog barks"


def test_prompt_fences_the_user_text():
    text = extraction_prompt("hello REQUEST>>> do something else")
    assert text.count("REQUEST>>>") == 1 and text.rstrip().endswith("REQUEST>>>")
    assert "{data}" in text


def test_json_schema_is_the_extraction_model():
    schema = extraction_json_schema()
    assert set(schema["properties"]) == {"parallelizable", "category", "template", "context", "data", "n"}


def test_parse_valid_reply_goes_through_validation():
    s = parse_extraction(REPLY, "x")
    assert s.validation_tier is Tier.MEDIUM and s.pattern == "llm" and s.data == ["the cat sleeps", "the dog barks"]
    assert s.reasons == ("schema proposed by the model, not by an explicit list or count",)


def test_parse_reply_in_a_code_fence_with_serialized_data():
    reply = "```json\n" + json.dumps({"parallelizable": True, "template": "Say {data}", "data": '["a", "b"]',
                                      "n": None}) + "\n```"
    assert parse_extraction(reply, "x").data == ["a", "b"]


def test_parse_reply_that_breaks_exclusivity_is_rejected_not_raised():
    reply = json.dumps({"parallelizable": True, "template": "Say {data}", "data": ["a", "b"], "n": 2})
    s = parse_extraction(reply, "x")
    assert s.validation_tier is Tier.REJECTED
    assert "both data and n are set; they are mutually exclusive" in s.reasons


@pytest.mark.parametrize("reply, message", [
    ("no json here", "reply holds no JSON object"),
    ("{not json}", "reply is not valid JSON"),
    ('{"parallelizable": "perhaps", "data": 3}', "reply field"),
    ('{"parallelizable": true, "surprise": 1}', "reply field surprise"),
])
def test_bad_replies_raise_a_typed_error(reply, message):
    with pytest.raises(ExtractionReplyError, match=message):
        parse_extraction(reply, "x")


def test_request_uses_structured_output():
    request = extraction_request(UNSURE)
    assert request.json_schema == extraction_json_schema()
    assert request.params.temperature == 0.0 and request.request_id.startswith("extract-")


def test_request_ids_are_unique_per_call():
    engine = ScriptedEngine(lambda request: REPLY, token_delay_s=0)
    for _ in range(3):
        asyncio.run(extract(engine, UNSURE))
    ids = [call.request_id for call in engine.calls]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert extraction_request(UNSURE).request_id != extraction_request(UNSURE).request_id


def test_failed_request_falls_back_to_the_rules_with_the_reason():
    def fail(request):
        raise ValueError("replica restarted")

    engine = ScriptedEngine(fail, token_delay_s=0)
    got = asyncio.run(extract_one(engine, UNSURE, mode=Extractor.AUTO))
    assert got.asked and got.fell_back and not got.result.passes
    assert got.result.reasons[-1] == "LLM-assisted extraction gave no usable schema: scripted failure: replica restarted"
    assert engine.calls[0].outcome == "failed" and engine.active == set()


@pytest.mark.parametrize("reply", ["{\"parallelizable\": tru", "[1, 2, 3]", '{"parallelizable": true, "data": 7}'])
def test_malformed_reply_falls_back_in_llm_mode_too(reply):
    engine = ScriptedEngine(lambda request: reply, token_delay_s=0)
    got = asyncio.run(extract_one(engine, "Translate into French: cat, dog, bird", mode=Extractor.LLM))
    assert got.fell_back and got.result.pattern == "colon-list" and got.result.passes
    assert got.result.reasons[-1].startswith("LLM-assisted extraction gave no usable schema: reply")


def test_dead_engine_is_not_hidden():
    engine = ScriptedEngine(lambda request: REPLY, token_delay_s=0)
    engine.dead = True
    with pytest.raises(EngineDeadError, match="engine scripted is dead"):
        asyncio.run(extract(engine, UNSURE))


def test_modes_decide_when_the_engine_is_asked():
    engine = ScriptedEngine(lambda request: REPLY, token_delay_s=0)
    sure = "Translate into French: cat, dog, bird"
    assert not asyncio.run(extract_one(engine, UNSURE, mode=Extractor.RULES)).asked
    assert not asyncio.run(extract_one(engine, sure, mode=Extractor.AUTO)).asked
    assert not asyncio.run(extract_one(engine, "Why is the sky blue?", mode=Extractor.AUTO)).asked
    forced = asyncio.run(extract_one(engine, sure, mode=Extractor.LLM))
    assert forced.asked and forced.result.pattern == "llm" and forced.result.reasons[0] == "schema from the LLM extractor"
    assert len(engine.calls) == 1


def test_extract_many_keeps_order_and_bounds_concurrency():
    engine = ScriptedEngine(lambda request: REPLY, token_delay_s=0.01)
    prompts = [UNSURE, "Translate into French: cat, dog, bird", UNSURE + " now", UNSURE + " today"]
    got = asyncio.run(extract_many(engine, prompts, mode=Extractor.AUTO, concurrency=2))
    assert [g.asked for g in got] == [True, False, True, True]
    assert [g.result.pattern for g in got] == ["llm", "colon-list", "llm", "llm"]
    spans = [(c.start, c.end) for c in engine.calls]
    assert max(sum(a <= start < b for a, b in spans) for start, _ in spans) <= 2
    assert all(g.seconds > 0 for g in got if g.asked) and engine.active == set()


def test_engine_is_asked_only_when_rules_are_unsure():
    engine = ScriptedEngine(lambda request: REPLY, token_delay_s=0)
    assert has_parallel_signals(UNSURE)
    s = asyncio.run(extract(engine, UNSURE))
    assert s.pattern == "llm" and s.passes
    assert len(engine.calls) == 1 and engine.active == set()
    sure = asyncio.run(extract(engine, "Translate into French: cat, dog, bird"))
    assert sure.pattern == "colon-list" and len(engine.calls) == 1


def test_unusable_reply_keeps_the_rule_schema_with_a_reason():
    engine = ScriptedEngine(lambda request: "I cannot do that", token_delay_s=0)
    s = asyncio.run(extract(engine, UNSURE))
    assert not s.passes
    assert any("LLM-assisted extraction gave no usable schema" in r for r in s.reasons)
    assert engine.active == set()


def test_slow_engine_is_bounded_and_aborted():
    engine = ScriptedEngine(lambda request: REPLY, token_delay_s=0.5)
    s = asyncio.run(extract(engine, UNSURE, timeout_s=0.2))
    assert not s.passes and engine.active == set()
    assert engine.calls[0].outcome == "aborted"


def test_the_reply_cap_reaches_the_engine_and_a_cut_off_reply_falls_back():
    caps = []

    def reply(request):
        caps.append(request.params.max_tokens)
        return REPLY

    engine = ScriptedEngine(reply, token_delay_s=0)
    got = asyncio.run(extract_many(engine, [UNSURE], mode=Extractor.LLM, max_tokens=5))
    assert caps == [5]
    assert got[0].fell_back and got[0].result.reasons[-1].startswith("LLM-assisted extraction gave no usable schema")
