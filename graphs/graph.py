"""The task graph: node specs on a ``networkx.DiGraph`` whose edges are data dependencies.

An edge ``a -> b`` means b waits for a. A scope node depends on its members, so
"a scope is done when all its members are done" is ordinary readiness. Scope
membership must form a tree: a node belongs to at most one innermost scope.
The graph is inert data; the runtime keeps all run state elsewhere. The
builder methods (``generate``, ``scope``, ``combine``) come from
:class:`graphs.builder.Builder`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graphs.builder import Builder, NameRegistry
from graphs.errors import CycleError, DuplicateNodeError, ScopeError, SerializationError, TemplateError, UnknownNodeError
from graphs.nodes import GenerateNode, Node, NodeKind, ScopeNode

FORMAT_VERSION = 1


class GraphSpec(BaseModel):
    """The serialized form of a graph."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(FORMAT_VERSION, description="Format version of this file.")
    nodes: list[Node] = Field(description="Every node, in declaration order.")


class Graph(Builder):
    """A DAG of generate, scope and combine nodes."""

    def __init__(self, nodes: Iterable[Node] = ()) -> None:
        self._dag = nx.DiGraph()
        self._specs: dict[str, Node] = {}
        self._names = NameRegistry()
        for node in nodes:
            self.add(node)

    # -- structure -------------------------------------------------------
    def add(self, node: Node) -> Node:
        """Add a node; names are unique. References are checked by :meth:`validate`."""
        if node.name in self._specs or self._names.is_reserved(node.name):
            raise DuplicateNodeError(f"duplicate node name '{node.name}'", node=node.name)
        self._specs[node.name] = node
        self._dag.add_node(node.name)
        for dep in node.dependencies:
            self._dag.add_edge(dep, node.name)
        return node

    def _add(self, node: Node) -> Node:
        return self.add(node)

    def _owner(self) -> Graph:
        return self

    def fresh_name(self, prefix: str) -> str:
        """A name no node has: ``prefix-N`` with a per-graph counter (deterministic)."""
        return self._names.fresh(prefix, self._specs)

    def reserve(self, name: str) -> None:
        """Hold a name for a scope whose block is open."""
        self._names.reserve(name, self._specs)

    def release(self, name: str) -> None:
        """Drop a reservation made by :meth:`reserve`."""
        self._names.release(name)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    def node(self, name: str) -> Node:
        """The spec of one node."""
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownNodeError(f"no node named '{name}'", node=name) from None

    def nodes(self) -> Iterator[Node]:
        """Node specs in declaration order."""
        return iter(self._specs.values())

    def edges(self) -> list[tuple[str, str]]:
        """(dependency, dependent) pairs."""
        return list(self._dag.edges())

    def dependents(self, name: str) -> list[str]:
        """Nodes that wait directly for ``name``."""
        return list(self._dag.successors(name))

    def descendants(self, name: str) -> set[str]:
        """Every node that waits for ``name``, directly or not."""
        return nx.descendants(self._dag, name)

    def members(self, scope: str) -> tuple[str, ...]:
        """The direct members of a scope, in declaration order."""
        spec = self.node(scope)
        if not isinstance(spec, ScopeNode):
            raise ScopeError(f"node '{scope}' is not a scope", node=scope)
        return spec.members

    def ready(self, done: Iterable[str]) -> list[str]:
        """Nodes not in ``done`` whose every dependency is in ``done``."""
        finished = set(done)
        return [
            n.name
            for n in self.nodes()
            if n.name not in finished and all(d in finished for d in n.dependencies)
        ]

    def sinks(self) -> list[str]:
        """Nodes nothing depends on, in declaration order: the graph's answer."""
        return [n.name for n in self.nodes() if self._dag.out_degree(n.name) == 0]

    def parent_scopes(self) -> dict[str, str]:
        """Each scope member's innermost scope."""
        parent: dict[str, str] = {}
        for scope in self.nodes():
            if not isinstance(scope, ScopeNode):
                continue
            for member in scope.members:
                if member in parent:
                    raise ScopeError(
                        f"node '{member}' escapes its scope: member of both '{parent[member]}' and '{scope.name}'",
                        node=member,
                    )
                parent[member] = scope.name
        return parent

    # -- validation ------------------------------------------------------
    def validate(self) -> Graph:
        """Raise a typed error naming the node for the first problem found; return self."""
        self._check_references()
        self.parent_scopes()
        self._check_acyclic()
        return self

    def _check_references(self) -> None:
        for node in self.nodes():
            if isinstance(node, ScopeNode) and not node.members:
                raise ScopeError(f"scope '{node.name}' has no members", node=node.name)
            for name in node.inputs:
                if name in self:
                    continue
                if node.kind is NodeKind.SCOPE:
                    raise UnknownNodeError(f"scope '{node.name}' lists unknown member '{name}'", node=node.name)
                raise TemplateError(
                    f"node '{node.name}': placeholder {{{name}}} names no node", node=node.name
                )
            for name in node.after:
                if name not in self:
                    raise UnknownNodeError(f"node '{node.name}' waits for unknown node '{name}'", node=node.name)

    def _check_acyclic(self) -> None:
        try:
            cycle = nx.find_cycle(self._dag)
        except nx.NetworkXNoCycle:
            return
        raise CycleError([edge[0] for edge in cycle])

    # -- planning --------------------------------------------------------
    def topological_order(self) -> list[str]:
        """Node names, every node after its dependencies (declaration order breaks ties)."""
        order = {name: i for i, name in enumerate(self._specs)}
        order.update({name: len(order) for name in self._dag if name not in order})
        return list(nx.lexicographical_topological_sort(self._dag, key=order.__getitem__))

    def critical_path(self) -> tuple[int, list[str]]:
        """The longest chain in expected output tokens: (tokens, node names)."""
        best: dict[str, tuple[int, list[str]]] = {}
        for name in self.topological_order():
            spec = self.node(name)
            cost = spec.cost if isinstance(spec, GenerateNode) else 0
            prev = max((best[d] for d in spec.dependencies), key=lambda b: b[0], default=(0, []))
            best[name] = (prev[0] + cost, [*prev[1], name])
        return max((best[s] for s in self.sinks()), key=lambda b: b[0], default=(0, []))

    def width(self) -> int:
        """Most generate nodes in one topological generation: how many can run at once."""
        return max(
            (
                sum(isinstance(self.node(n), GenerateNode) for n in generation)
                for generation in nx.topological_generations(self._dag)
            ),
            default=0,
        )

    # -- serialization ---------------------------------------------------
    def spec(self) -> GraphSpec:
        """The graph as plain data."""
        return GraphSpec(nodes=list(self.nodes()))

    def to_json(self, *, indent: int | None = 2) -> str:
        """Serialize; :meth:`from_json` reads it back to an equal graph."""
        return self.spec().model_dump_json(indent=indent)

    model_dump_json = to_json

    @classmethod
    def from_spec(cls, spec: GraphSpec) -> Graph:
        """Build and validate a graph from its serialized form."""
        return cls(spec.nodes).validate()

    @classmethod
    def from_json(cls, text: str | bytes) -> Graph:
        """Read a graph written by :meth:`to_json`; a malformed file is a SerializationError."""
        try:
            spec = GraphSpec.model_validate_json(text)
        except ValidationError as exc:
            raise SerializationError(f"not a forkjoin graph: {_first_error(exc)}") from exc
        if spec.version != FORMAT_VERSION:
            raise SerializationError(f"graph format version {spec.version} is not supported (expected {FORMAT_VERSION})")
        return cls.from_spec(spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Graph) and list(self.nodes()) == list(other.nodes())

    def __repr__(self) -> str:
        return f"Graph({len(self)} nodes)"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "file"
    return f"{where}: {err['msg']}"
