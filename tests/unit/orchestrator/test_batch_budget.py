"""A row's token budget: a graph's caps split from one total, and a batch row held to it (no Ray)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphs import GenerateNode, Graph
from graphs.compiler import CompileOptions, compile_prompt, serial_graph
from orchestrator import RuntimeConfig
from orchestrator.batch.budget import budget_of, fit_budget, shares
from orchestrator.batch.worker import Job, run_rows
from orchestrator.batch_bench import BatchBenchConfig, equal_budget
from orchestrator.strategies import Strategy

POEMS = "Write 3 short poems about the sea, then pick the best one and explain why."
WORDS = "Give one word for each:\n1. red\n2. green\n3. blue"
CAPS = CompileOptions(item_max_tokens=256, serial_max_tokens=256, final_max_tokens=256)


def caps(graph: Graph) -> dict[str, tuple[int, int | None]]:
    return {n.name: (n.params.max_tokens, n.expected_tokens) for n in graph.nodes() if isinstance(n, GenerateNode)}


def test_a_graph_within_the_budget_is_left_as_it_is():
    graph = compile_prompt(WORDS, options=CAPS).graph
    assert budget_of(graph) == 96  # three one-word branches of 32 tokens each
    assert fit_budget(graph, 96) is graph
    assert fit_budget(serial_graph(POEMS, CAPS), 256) == serial_graph(POEMS, CAPS)


def test_the_budget_is_split_as_the_compiler_expects_each_node_to_write():
    graph = compile_prompt(POEMS, options=CAPS).graph
    assert caps(graph) == {"item-1": (225, 90), "item-2": (225, 90), "item-3": (225, 90), "final": (256, 256)}
    fitted = fit_budget(graph, 256)
    # one token each, then the other 252 in proportion 90:90:90:256, rounded down: the final step's is largest
    assert caps(fitted) == {"item-1": (44, 44), "item-2": (44, 44), "item-3": (44, 44), "final": (123, 123)}
    assert budget_of(fitted) == 255 <= 256
    assert fitted.edges() == graph.edges() and [n.name for n in fitted.nodes()] == [n.name for n in graph.nodes()]


def test_what_a_capped_node_cannot_take_goes_to_the_others():
    assert shares([10, 100, 100], [50, 50, 50], 90) == [10, 40, 40]
    assert shares([5, 5, 100], [1, 1, 1], 30) == [5, 5, 20]
    assert shares([8, 8], [0, 0], 8) == [4, 4]  # no estimate: equal shares
    assert shares([1, 1, 2], [0, 1, 4], 3) == [1, 1, 1]  # a token each is all there is


def test_more_nodes_than_tokens_leaves_each_one_token():
    graph = compile_prompt("Generate 10 slogans for a coffee shop.", options=CAPS).graph
    assert set(caps(fit_budget(graph, 4)).values()) == {(1, 1)}


def test_a_budget_below_one_token_is_refused():
    with pytest.raises(ValueError, match="a row's token budget must be at least 1, got 0"):
        fit_budget(serial_graph("hi"), 0)


@given(st.lists(st.tuples(st.integers(1, 600), st.integers(0, 600)), min_size=1, max_size=24),
       st.integers(1, 3000))
def test_shares_never_exceed_the_total_or_a_cap_and_waste_little(nodes, total):
    limits, weights = [c for c, _ in nodes], [w for _, w in nodes]
    split = shares(limits, weights, total)
    assert all(1 <= s <= c for s, c in zip(split, limits, strict=True))
    assert sum(split) <= max(total, len(nodes))
    assert sum(split) >= min(total, sum(limits)) - len(nodes)  # only rounding is lost


async def test_a_batch_row_writes_no_more_than_its_budget_on_either_strategy(make):
    asked: list[int] = []

    def respond(request):
        asked.append(request.params.max_tokens)
        return " ".join(f"w{k}" for k in range(300))  # every node would write far past its cap

    _, runtime = make(respond, token_delay_s=0, config=RuntimeConfig(max_concurrency=8))
    graphs = Job(strategy=Strategy.PARALLEL, compile=CAPS, row_max_tokens=120)
    [graph_row] = await run_rows(runtime, [POEMS], [None], graphs)
    assert graph_row.strategy == "parallel" and graph_row.nodes == 5
    assert sorted(asked) == [20, 20, 20, 57]  # 4 + 116 split 90:90:90:256 (the final step)
    plain = graphs.model_copy(update={"strategy": Strategy.SERIAL})
    [serial_row] = await run_rows(runtime, [POEMS], [None], plain)
    assert asked[-1] == 120 and (graph_row.output_tokens, serial_row.output_tokens) == (117, 120)


def test_the_bench_holds_both_sides_to_one_budget():
    assert BatchBenchConfig(dataset="d.jsonl").budget == CompileOptions().serial_max_tokens  # 2048 by default
    config = BatchBenchConfig(dataset="d.jsonl", **equal_budget(96))
    assert config.budget == 96
    assert (config.compile.item_max_tokens, config.compile.serial_max_tokens, config.compile.final_max_tokens) == (
        96, 96, 96)
    assert equal_budget(None) == {}
