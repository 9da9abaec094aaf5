"""Lists mode shares one token budget (the sequential answer's cap) among the main stream and its forks."""

from __future__ import annotations

import asyncio
import re

from hypothesis import given
from hypothesis import strategies as st

from actors.engine import GenerateRequest
from actors.scripted import ScriptedEngine
from graphs.pasta.budget import TokenBudget, fork_share, length_hint
from orchestrator.pasta import Interpreter, PastaConfig, PastaMode

ELABORATION = " ".join(f"w{i}" for i in range(40))
ITEMS = 6
ANSWER = "Intro:\n" + "\n".join(f"{n}. Item{n}: {ELABORATION}" for n in range(1, ITEMS + 1)) + "\n\nThe end."


def long_list_model(request: GenerateRequest) -> str:
    """Six items of forty words each: about 250 tokens written sequentially."""
    last = request.assistant_prefix.rsplit("\n", 1)[-1]
    if request.assistant_prefix == "":
        return ANSWER
    if match := re.match(r"^(\d)\. Item\d:$", last):
        return f" {ELABORATION}\n{int(match.group(1)) + 1}. Item"
    if match := re.match(r"^(\d)\.$", last):
        number = int(match.group(1))
        return f" Item{number}: {ELABORATION}" if number <= ITEMS else "\n\nThe end."
    return "\n\nThe end."


def test_reserve_grants_only_what_is_free_and_settle_returns_the_unused_part() -> None:
    budget = TokenBudget(100)
    assert budget.reserve(60) == 60 and budget.reserve(60) == 40 and budget.reserve(5) == 0
    budget.settle(60, 10)
    assert (budget.spent, budget.reserved, budget.free) == (10, 40, 50)
    budget.settle(40, 40)
    assert (budget.spent, budget.reserved, budget.free) == (50, 0, 50)


def test_fork_share_divides_the_free_budget_among_the_items_still_expected() -> None:
    # Five items expected: the first fork gets 1/6 (one share kept for headers and the tail).
    assert fork_share(360, 0, expected_items=5, cap=256) == 60
    assert fork_share(360, 3, expected_items=5, cap=256) == 120  # two items left, at least
    assert fork_share(360, 9, expected_items=5, cap=256) == 120  # past the expected count: still 1/3
    assert fork_share(3000, 0, expected_items=5, cap=256) == 256
    assert fork_share(2, 0, expected_items=5, cap=256) == 0


def test_length_hint_states_the_length_in_words() -> None:
    assert length_hint(60) == "Keep each list item's explanation under 45 words."
    assert length_hint(1) == "Keep each list item's explanation under 1 words."


@given(st.integers(1, 500), st.lists(st.tuples(st.integers(0, 200), st.floats(0, 1)), max_size=30))
def test_no_sequence_of_streams_overdraws_the_budget(total: int, streams: list[tuple[int, float]]) -> None:
    budget, open_ = TokenBudget(total), []
    for asked, used_share in streams:
        granted = budget.reserve(asked)
        open_.append((granted, int(granted * used_share)))
        if len(open_) > 3:
            budget.settle(*open_.pop(0))
        assert budget.spent + budget.reserved <= total
    for granted, used in open_:
        budget.settle(granted, used)
    assert budget.reserved == 0 and budget.spent <= total


def run_lists(engine: ScriptedEngine, **config):
    return asyncio.run(Interpreter(engine, PastaConfig(mode=PastaMode.LISTS, **config)).answer("tips", request_id="r"))


def test_the_budget_holds_across_forks_and_each_fork_is_told_its_length() -> None:
    seen: list[GenerateRequest] = []

    def recorded(request: GenerateRequest) -> str:
        seen.append(request)
        return long_list_model(request)

    engine = ScriptedEngine(recorded, token_delay_s=0.001)
    result = run_lists(engine, max_tokens=120, fork_max_tokens=100, header_max_tokens=8)
    assert result.forks >= 2
    assert engine.generated_tokens == result.tokens <= 120
    forks = [request for request in seen if "/fork-" in request.request_id]
    assert sum(request.params.max_tokens for request in forks) <= 120
    for request in forks:
        words = int(request.params.max_tokens * 0.75)
        assert request.prompt == f"tips\n\nKeep each list item's explanation under {words} words."
    mains = [request for request in seen if "/main-" in request.request_id]
    assert all(request.prompt == "tips" for request in mains)
    assert engine.active == set()


def test_with_a_budget_larger_than_the_answer_every_item_is_elaborated() -> None:
    engine = ScriptedEngine(long_list_model, token_delay_s=0.0)
    result = run_lists(engine, max_tokens=2000, fork_max_tokens=64)
    assert result.text == ANSWER
    assert result.forks == ITEMS
    assert result.tokens <= 2000
