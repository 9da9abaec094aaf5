"""Soak the three front doors that read untrusted text: the PASTA parser, the prompt compiler, graph JSON.

Each target is a hypothesis property over generated inputs (noise built from
the grammar's own fragments, arbitrary Unicode, near-valid graph files): the
code under test may succeed or raise one of the project's typed errors
(:class:`~graphs.errors.ForkjoinError`), nothing else, and what it returns
holds together (a parsed document converts to a valid graph, a compiled
prompt's graph survives a JSON round trip). Every example is bounded by a
real-time alarm, so a hang fails the soak instead of stalling it (a hang
inside a single C call, such as one regular-expression match, is caught when
that call returns, by the alarm's overrun). ``forkjoin bench soak`` runs the
large profile; tests/unit/orchestrator/test_soak.py a small one in CI.

Needs ``hypothesis`` (the dev extra); imported only when a soak runs.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from graphs.errors import ForkjoinError

EXAMPLE_BOUND_S = 2.0
TARGETS = ("pasta", "compiler", "graph-json")
PASTA_FRAGMENTS = [
    "<scope>", "</scope>", "<async>", "</async>", "<promise/>", "<sync/>", "<promise />", '<promise topic="t" tokens="3"/>',
    '<promise tokens="x"/>', "<promise>", "<scope/>", "</sync>", '<async topic="a">', "<scope", "<", ">", "/", "=", '"',
    "a", " ", "\n", "text", "<b>", "</", "1. ", "- ", "**Item**", "```", "\t",
]
PROMPT_FRAGMENTS = [
    "List", "Give", "three", "3", "10", "ways to", "tips for", "Compare", "and", ",", ":", "\n", "1.", "2)", "- ", "* ",
    "Question 1:", "(5 points)", "第一题：", "explain each", "then summarize", "step by step", "Translate", '"', "{", "}",
    "{name}", "for each of", "red, green and blue", "one sentence", " ", "Write a haiku about", "?", "!",
]


class SoakReport(BaseModel):
    """What one target's soak did."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str = Field(description="pasta, compiler or graph-json.")
    examples: int = Field(ge=0, description="Generated inputs run through the target.")
    typed_errors: int = Field(ge=0, description="Of those, how many raised one of the project's typed errors.")
    seconds: float = Field(ge=0, description="Wall time of the soak.")
    slowest_s: float = Field(ge=0, description="The slowest single example.")


class ExampleHang(TimeoutError):
    """One example ran past the soak's bound. Caused by the code under test (a hang or a blow-up)."""


@contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Raise :class:`ExampleHang` in this (main) thread if the block runs longer than ``seconds``."""

    def expire(signum: int, frame: Any) -> None:
        raise ExampleHang(f"an example ran longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_pasta(text: str) -> None:
    """Parse; a document converts to a graph that validates and survives JSON."""
    from graphs import Graph
    from graphs.pasta import parse
    from graphs.pasta.convert import to_graph

    graph = to_graph(parse(text), question="q")
    assert Graph.from_json(graph.to_json()) == graph


def check_compiler(prompt: str) -> None:
    """Compile; the graph validates and survives JSON."""
    from graphs import Graph
    from graphs.compiler.build import compile_prompt

    graph = compile_prompt(prompt).graph.validate()
    assert Graph.from_json(graph.to_json()) == graph


def check_graph_json(text: str) -> None:
    """Load; a graph that loads validates and writes back to the same graph."""
    from graphs import Graph

    graph = Graph.from_json(text)
    assert Graph.from_json(graph.to_json()) == graph


CHECKS: dict[str, Callable[[str], None]] = {"pasta": check_pasta, "compiler": check_compiler, "graph-json": check_graph_json}


def inputs(target: str):
    """The hypothesis strategy of inputs for ``target``."""
    from hypothesis import strategies as st

    def noise(fragments: list[str], size: int):
        return st.lists(st.one_of(st.sampled_from(fragments), st.text(max_size=6)), max_size=size).map("".join)

    match target:
        case "pasta":
            return st.one_of(noise(PASTA_FRAGMENTS, 40), st.text(max_size=300))
        case "compiler":
            return st.one_of(noise(PROMPT_FRAGMENTS, 40), st.text(max_size=300))
        case "graph-json":
            return st.one_of(near_graphs().map(json.dumps), near_graphs().map(json.dumps).map(_truncate),
                             st.text(max_size=200))
    raise ValueError(f"unknown soak target {target!r}; choose from {', '.join(TARGETS)}")


def near_graphs():
    """Graph files that are often valid and often wrong in one place: cycles, unknown names, bad kinds, junk."""
    from hypothesis import strategies as st

    names = st.sampled_from(["a", "b", "c", "d", "e", ""])
    json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                              lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                              max_leaves=6)
    node = st.fixed_dictionaries(
        {"name": names, "kind": st.sampled_from(["generate", "scope", "combine", "other"]),
         "after": st.lists(names, max_size=3),
         "prompt": st.lists(st.sampled_from(["Say ", "{a}", "{b}", "{{", "}}", "{", "x"]), max_size=5).map("".join)},
        optional={"members": st.lists(names, max_size=3), "params": st.dictionaries(
            st.sampled_from(["max_tokens", "temperature", "stop", "junk"]), json_value, max_size=2),
            "extra": json_value},
    )
    return st.fixed_dictionaries({"version": st.sampled_from([1, 1, 1, 2, "1"]), "nodes": st.lists(node, max_size=6)})


def _truncate(text: str) -> str:
    return text[: len(text) * 2 // 3]


def soak(target: str, examples: int, *, seed: int | None = None, bound_s: float = EXAMPLE_BOUND_S) -> SoakReport:
    """Run ``examples`` generated inputs through ``target``; AssertionError or the first untyped error if one fails."""
    from hypothesis import HealthCheck, Phase, given, seed as fix_seed, settings

    if target not in CHECKS:
        raise ValueError(f"unknown soak target {target!r}; choose from {', '.join(TARGETS)}")
    check = CHECKS[target]
    counts = {"examples": 0, "typed": 0, "slowest": 0.0}

    @settings(max_examples=examples, database=None, deadline=None, phases=(Phase.generate, Phase.shrink),
              suppress_health_check=list(HealthCheck))
    @given(inputs(target))
    def prop(text: str) -> None:
        counts["examples"] += 1
        began = time.perf_counter()
        try:
            with bounded(bound_s):
                check(text)
        except ForkjoinError:
            counts["typed"] += 1
        finally:
            counts["slowest"] = max(counts["slowest"], time.perf_counter() - began)

    began = time.perf_counter()
    (fix_seed(seed)(prop) if seed is not None else prop)()
    return SoakReport(target=target, examples=counts["examples"], typed_errors=counts["typed"],
                      seconds=time.perf_counter() - began, slowest_s=counts["slowest"])
