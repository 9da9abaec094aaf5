"""PASTA-LANG decoding on a real vLLM CPU replica (Ray actor behind the pool), smallest model.

The main thread is scripted (a small model does not reliably write tags), the
forks are the real model's: the test proves forks run concurrently on the
replica and the joined answer is the tag-free concatenation in order. The
lists mode runs end to end on the real model. Skipped, with the reason, when
vLLM or the model is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import ray  # noqa: E402

from actors import ReplicaPool  # noqa: E402
from actors.engine import Chunk, EngineStats, GenerateRequest  # noqa: E402
from graphs.pasta import Fork, Text, joined, parse, remove_pasta  # noqa: E402
from orchestrator.pasta import Interpreter, PastaConfig, PastaMode  # noqa: E402

pytestmark = pytest.mark.integration

MAIN = (
    "Here is how each material behaves:\n<scope>Coal:<promise/>\nWater:<promise/>\nGlass:<promise/>\n</scope>"
    " In short, only coal burns."
)


class ScriptedMain:
    """The main thread writes MAIN (split at its barrier like a model would); forks go to the real engine."""

    name = "scripted-main"

    def __init__(self, real: ReplicaPool) -> None:
        self.real = real

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        if request.assistant_prefix.endswith("<async>"):
            async for chunk in self.real.generate(request):
                yield chunk
            return
        text = MAIN if request.assistant_prefix == "" else " In short, only coal burns."
        hits = [(at, stop) for stop in request.params.stop if (at := text.find(stop)) >= 0]
        matched = min(hits)[1] if hits else None  # like a real engine: the earliest stop string wins
        text = text.split(matched)[0] if matched else text
        for word in text.split(" "):
            await asyncio.sleep(0.05)
            yield Chunk(text=word + " " if word else " ", tokens=1)
        yield Chunk(text="", tokens=0, finish_reason="stop", stop_reason=matched)

    async def stats(self) -> EngineStats:
        return EngineStats(name=self.name)

    async def aclose(self) -> None:
        return None


def test_forks_run_concurrently_on_the_replica_and_join_in_order(runner: asyncio.Runner, pool: ReplicaPool) -> None:
    config = PastaConfig(fork_max_tokens=40, max_fork_depth=1, timeout_s=600)
    result = runner.run(Interpreter(ScriptedMain(pool), config).answer("Is each of coal, water, glass flammable?"))
    assert result.forks == 3
    spans: dict[str, list[float]] = {}
    for record in result.streams:  # a fork that opens a scope of its own runs in several segments
        if record.role == "fork":
            span = spans.setdefault(record.name.rsplit("-", 1)[0], [record.start_s, record.end_s])
            span[1] = max(span[1], record.end_s)
    assert sorted(spans) == ["fork-1", "fork-2", "fork-3"]
    first_end = min(end for _, end in spans.values())
    assert sum(start < first_end for start, _ in spans.values()) >= 2, "forks did not overlap"
    scope = parse(result.annotated).children[1]
    bodies = [joined(child.body) for child in scope.children if isinstance(child, Fork)]
    assert [child.text for child in scope.children if isinstance(child, Text)] == ["Coal:", "\nWater:", "\nGlass:", "\n "]
    assert all(body.strip() for body in bodies)
    expected = "Here is how each material behaves:\nCoal:{}\nWater:{}\nGlass:{}\n  In short, only coal burns. "
    assert result.text == expected.format(*bodies) == remove_pasta(result.annotated)


async def engine_count(pool: ReplicaPool) -> int:
    """Tokens the replica generated since it started, once no request is open in it (aborts take a moment)."""
    replica = pool.handle(pool.replicas[0].name)
    async with asyncio.timeout(30):
        while await replica.open_requests.remote():
            await asyncio.sleep(0.2)
    return (await replica.stats.remote()).generated_tokens


def test_lists_mode_forks_within_one_budget_by_the_engines_own_count(runner: asyncio.Runner, pool: ReplicaPool) -> None:
    """Five items with 100 tokens allowed per fork, 120 for the whole answer: the shared budget is what binds."""
    config = PastaConfig(mode=PastaMode.LISTS, max_tokens=120, fork_max_tokens=100, timeout_s=600)
    prompt = "List five ways to save water at home. Give each a short title, a colon, then one sentence."

    async def scenario():
        before = await engine_count(pool)
        result = await Interpreter(pool, config).answer(prompt)
        return result, await engine_count(pool) - before

    result, generated = runner.run(scenario())
    forks = [stream for stream in result.streams if stream.role == "fork"]
    assert result.forks == len(forks) >= 2, result.annotated
    assert all(stream.tokens > 0 for stream in forks)
    assert result.tokens == sum(stream.tokens for stream in result.streams) <= 120
    # A stream the interpreter cuts (a header is out, a fork reached the next item) is aborted while the
    # engine runs on: it may compute a step or two more, discarded unseen. Every token the interpreter saw
    # is charged; the engine's own count may exceed the budget only by those in-flight steps.
    cut = sum(stream.finish_reason not in ("stop", "length") for stream in result.streams)
    assert result.tokens <= generated <= 120 + 2 * cut, f"replica generated {generated}, seen {result.tokens}, {cut} cut"
    assert result.text.strip() and remove_pasta(result.annotated) == result.text
