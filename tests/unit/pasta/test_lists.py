"""Lists mode: list items of a plain answer are forked once their header is out."""

from __future__ import annotations

import asyncio
import re

from actors.engine import GenerateRequest
from actors.scripted import ScriptedEngine
from graphs.pasta import remove_pasta
from graphs.pasta.lists import Header, ItemEnd, elaboration_end, first_header, next_marker
from orchestrator.pasta import Interpreter, PastaConfig, PastaMode

ANSWER = (
    "Here are tips:\n1. Sleep: Go to bed early and rest well every night, with the room dark and quiet.\n"
    "2. Food: Eat vegetables and fruit at every meal, and keep sweets for special days only.\n"
    "3. Move: Walk for thirty minutes a day, or cycle to work when the weather allows it.\n\nThese help a lot."
)
ITEMS = re.findall(r"^(\d)\. (\w+):( [^\n]*)$", ANSWER, re.M)


def list_model(request: GenerateRequest) -> str:
    """A model that writes ANSWER, and continues any prefix the interpreter builds from it plausibly."""
    prefix = request.assistant_prefix
    if prefix == "":
        return ANSWER
    last = prefix.rsplit("\n", 1)[-1]
    match = re.match(r"^(\d)\.(?: (\w+):)?$", last)
    if match and match.group(2):  # a header: elaborate it, then go on as the answer does
        elaboration = ITEMS[int(match.group(1)) - 1][2]
        return ANSWER[ANSWER.index(elaboration) :]
    if match:  # a marker the interpreter wrote: the next header
        number = int(match.group(1))
        return " Extra: never used." if number > len(ITEMS) else f" {ITEMS[number - 1][1]}:{ITEMS[number - 1][2]}"
    return "\n\nThese help a lot."


def run_lists(engine: ScriptedEngine, **config):
    return asyncio.run(Interpreter(engine, PastaConfig(mode=PastaMode.LISTS, **config)).answer("tips", request_id="r"))


def test_headers_and_item_ends_are_found_only_from_complete_evidence() -> None:
    assert first_header("Intro\n1. Eye Strain: Con") == Header(6, 20, "", "1.")
    assert first_header("Intro\n1. Eye Strain") is None  # the header may still grow
    assert first_header("Intro\n1. Eye Strain\n") == Header(6, 19, "", "1.")
    assert first_header("no list here\nat all") is None
    assert [next_marker(m) for m in ("1.", "9)", "-")] == ["2.", "10)", "-"]
    assert elaboration_end(" Constant.\n2. Poor", "") == (10, ItemEnd.NEXT_ITEM)
    assert elaboration_end(" Constant.\n\nIn sum, ok", "") == (10, ItemEnd.PARAGRAPH)
    assert elaboration_end(" Constant.\n   - nested\n", "") is None
    assert elaboration_end(" Constant.\n\n10", "") is None


def test_items_are_forked_and_joined_in_order() -> None:
    engine = ScriptedEngine(list_model, token_delay_s=0.01)
    result = run_lists(engine)
    assert result.text == ANSWER
    assert remove_pasta(result.annotated) == ANSWER
    assert result.annotated.count("<promise/><async>") == 3
    calls = {call.request_id: call for call in engine.calls}
    assert calls["r/fork-1"].start < calls["r/fork-1"].end and calls["r/main-2"].start < calls["r/fork-1"].end
    assert engine.active == set()


def test_lists_mode_is_faster_than_one_plain_stream() -> None:
    engine = ScriptedEngine(list_model, token_delay_s=0.03)
    result = run_lists(engine)
    sequential_s = 0.03 * len(ANSWER.split())
    assert result.wall_s < 0.8 * sequential_s


def test_an_answer_without_a_list_is_one_plain_request() -> None:
    engine = ScriptedEngine(lambda request: "No list in this answer at all.")
    result = run_lists(engine)
    assert [call.request_id for call in engine.calls] == ["r/main-1"]
    assert result.text == "No list in this answer at all." and result.forks == 0


def test_speculation_is_bounded_by_max_list_items() -> None:
    engine = ScriptedEngine(list_model, token_delay_s=0.0)
    result = run_lists(engine, max_list_items=2)
    assert result.text.startswith("Here are tips:\n1. Sleep: Go to bed early and rest well every night, with")
    assert "\n2. Food:" in result.text
    assert engine.active == set()


def test_no_header_is_found_inside_a_code_block() -> None:
    assert first_header("Code:\n```\n- a: b c\n") is None
    assert first_header("```\n- a: b\n```\n- real: item") == Header(15, 22, "", "-")
