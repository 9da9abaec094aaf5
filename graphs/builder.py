"""The Python DAG-building API.

``Graph`` and the object a ``with graph.scope(...)`` block yields share these
methods, so graphs read like the program they describe::

    g = Graph()
    with g.scope("classify") as s:
        for item in ["coal", "wood"]:
            s.generate(f"Is {escape(item)} flammable?", name=item, max_tokens=48)
    g.generate("Summarize:\\n{classify}", name="summary")

A scope node is added when its block ends without error, after its members;
its name is reserved when the block opens, so members may not reuse it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from graphs.errors import DuplicateNodeError, GraphError
from graphs.nodes import CombineNode, GenerateNode, Node, ScopeNode
from graphs.params import SamplingParams
from graphs.template import escape

if TYPE_CHECKING:
    from graphs.graph import Graph

_SAMPLING_FIELDS = frozenset(SamplingParams.model_fields)


class Builder:
    """Methods that add nodes; subclasses say where a new node goes (``_add``)."""

    def _add(self, node: Node) -> Node:
        raise NotImplementedError

    def _owner(self) -> Graph:
        raise NotImplementedError

    def generate(self, prompt: str, *, name: str | None = None, literal: bool = False, **options: Any) -> str:
        """Add an LLM generation; returns its name.

        ``prompt`` is a template (``{node}`` inserts that node's output) unless
        ``literal`` is true. ``options`` are SamplingParams fields (max_tokens,
        temperature, top_p, stop, seed) or GenerateNode fields (system, after,
        timeout_s, expected_tokens).
        """
        node_name = name or self._owner().fresh_name("generate")
        sampling = {k: v for k, v in options.items() if k in _SAMPLING_FIELDS}
        fields = {k: v for k, v in options.items() if k not in _SAMPLING_FIELDS}
        text = escape(prompt) if literal else prompt
        node = _make(node_name, lambda: GenerateNode(
            name=node_name, prompt=text, params=SamplingParams(**sampling), **fields
        ))
        return self._add(node).name

    def combine(self, template: str, *, name: str | None = None, after: tuple[str, ...] = ()) -> str:
        """Add a node that formats other nodes' outputs without an LLM call; returns its name."""
        node_name = name or self._owner().fresh_name("combine")
        node = _make(node_name, lambda: CombineNode(name=node_name, template=template, after=after))
        return self._add(node).name

    @contextmanager
    def scope(self, name: str | None = None, **options: Any) -> Iterator[ScopeBuilder]:
        """Open a join barrier; nodes added through the yielded builder become its members.

        ``options`` are ScopeNode fields: separator, item_format, after.
        """
        graph = self._owner()
        scope_name = name or graph.fresh_name("scope")
        graph.reserve(scope_name)
        builder = ScopeBuilder(graph, self, scope_name)
        try:
            yield builder
        finally:
            graph.release(scope_name)
        node = _make(scope_name, lambda: ScopeNode(name=scope_name, members=tuple(builder.member_names), **options))
        self._add(node)


class ScopeBuilder(Builder):
    """What ``with graph.scope(...) as s`` yields: adds members to one scope."""

    def __init__(self, graph: Graph, parent: Builder, name: str) -> None:
        self._graph = graph
        self._parent = parent
        self.name = name
        self.member_names: list[str] = []

    def _owner(self) -> Graph:
        return self._graph

    def _add(self, node: Node) -> Node:
        self._graph.add(node)
        self.member_names.append(node.name)
        return node


def _make(name: str, build: Any) -> Node:
    """Build a node spec, turning pydantic's complaint into a GraphError naming the node."""
    try:
        return build()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "node"
        raise GraphError(f"node '{name}': {field}: {err['msg']}", node=name) from exc


class NameRegistry:
    """Deterministic fresh names and reserved (open-scope) names for one graph."""

    def __init__(self) -> None:
        self._reserved: set[str] = set()
        self._counter = 0

    def fresh(self, prefix: str, taken: Any) -> str:
        while True:
            self._counter += 1
            candidate = f"{prefix}-{self._counter}"
            if candidate not in taken and candidate not in self._reserved:
                return candidate

    def reserve(self, name: str, taken: Any) -> None:
        if name in taken or name in self._reserved:
            raise DuplicateNodeError(f"duplicate node name '{name}'", node=name)
        self._reserved.add(name)

    def release(self, name: str) -> None:
        self._reserved.discard(name)

    def is_reserved(self, name: str) -> bool:
        return name in self._reserved
