"""A compiled 6-item prompt on a real vLLM CPU replica (smallest model), end to end.

Proves: auto picks the parallel graph, the six subtasks run on the replica,
the aggregated answer holds six numbered items in the serial order, and the
JSON form carries the graph and per-node timings. Skipped, with the reason,
when vLLM or the model is missing.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

import ray  # noqa: E402

from actors import ReplicaPool  # noqa: E402
from graphs.compiler import CompileOptions  # noqa: E402
from orchestrator.strategies import Strategy, StrategyRun, run_prompt  # noqa: E402

pytestmark = pytest.mark.integration

PROMPT = ("Translate each of the following words into French:\n1. cat\n2. dog\n3. house\n4. water\n5. bread\n"
          "6. apple")


def test_six_items_run_in_parallel_and_come_back_in_order(runner: asyncio.Runner, pool: ReplicaPool) -> None:
    run = runner.run(run_prompt(pool, PROMPT, Strategy.AUTO, options=CompileOptions(item_max_tokens=24)))
    assert isinstance(run, StrategyRun)
    assert run.strategy is Strategy.PARALLEL and run.result.ok, run.result
    items = [run.result.node(f"item-{k}") for k in range(1, 7)]
    # the join numbers the items itself, dropping a list marker an item's own text starts with
    own_marker = re.compile(r"^(?:\d{1,3}[.)]|[-*•])\s+")
    expected = "\n".join(f"{k}. {own_marker.sub('', n.text.strip(), count=1)}" for k, n in enumerate(items, start=1))
    assert run.result.answer == expected
    assert re.match(r"1\. ", run.result.answer)
    assert all(n.text and n.start_s is not None and n.end_s is not None for n in items)
    assert max(n.start_s for n in items) < min(n.end_s for n in items), "the six subtasks did not overlap"
    body = json.loads(run.model_dump_json())
    assert {n["name"] for n in body["graph"]["nodes"]} >= {"item-1", "item-6", "answers"}
    assert all("start_s" in n and "end_s" in n for n in body["result"]["nodes"])
