"""Property: on any graph, every node runs once, after its dependencies; scopes wait for all members."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import ScriptedEngine
from graphs import Graph, ScopeNode
from orchestrator import NodeStatus, Runtime, RuntimeConfig


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    graph = Graph()
    open_scopes: list = []          # (context manager, builder)
    finished: list[str] = []        # names that may be referenced (not open scopes)
    for step in range(draw(st.integers(1, 14))):
        action = draw(st.sampled_from(["generate", "generate", "open", "close"]))
        builder = open_scopes[-1][1] if open_scopes else graph
        if action == "open" and len(open_scopes) < 3:
            manager = builder.scope(f"s{step}", separator="|")
            open_scopes.append((manager, manager.__enter__()))
        elif action == "close" and open_scopes and open_scopes[-1][1].member_names:
            manager, scope = open_scopes.pop()
            manager.__exit__(None, None, None)
            finished.append(scope.name)
        else:
            refs = draw(st.lists(st.sampled_from(finished), max_size=3, unique=True)) if finished else []
            prompt = f"node g{step}" + "".join(f" {{{r}}}" for r in refs)
            finished.append(builder.generate(prompt, name=f"g{step}", max_tokens=3))
    while open_scopes:
        manager, scope = open_scopes.pop()
        if not scope.member_names:
            scope.generate("filler", name=f"{scope.name}-filler")
        manager.__exit__(None, None, None)
    return graph.validate()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.integers(1, 4))
def test_every_node_runs_once_after_its_dependencies(graph: Graph, limit: int) -> None:
    engine = ScriptedEngine(lambda r: "w x y", token_delay_s=0.0005)
    runtime = Runtime(engine, RuntimeConfig(max_concurrency=limit))
    result = asyncio.run(runtime.arun(graph))

    generate_names = [n.name for n in graph.nodes() if n.kind.value == "generate"]
    assert sorted(c.request_id.split("/")[1] for c in engine.calls) == sorted(generate_names)
    assert all(n.status is NodeStatus.DONE for n in result.nodes)
    ends = {n.name: n.end_s for n in result.nodes}
    for node in graph.nodes():
        start = result.node(node.name).start_s
        for dep in node.dependencies:
            assert start >= ends[dep], f"{node.name} started before {dep} ended"
        if isinstance(node, ScopeNode):
            assert result.node(node.name).text == "|".join(result.node(m).text for m in node.members)
    assert engine.active == set() and runtime.in_flight == 0
