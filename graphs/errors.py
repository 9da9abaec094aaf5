"""Errors raised while building, validating or compiling a graph.

Every error forkjoin raises derives from :class:`ForkjoinError`. The ones here
are compile-time errors: the caller (a person writing a graph, a prompt, or an
annotated response) made a mistake, nothing ran, and nothing needs cleaning up.
Runtime errors live in ``orchestrator.errors``.
"""

from __future__ import annotations


class ForkjoinError(Exception):
    """Root of every error forkjoin raises on purpose."""


class GraphError(ForkjoinError):
    """A graph is malformed. Caused by the graph's author; never recoverable by retrying."""

    def __init__(self, message: str, *, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


class DuplicateNodeError(GraphError):
    """Two nodes share a name. Caused by the graph's author."""


class UnknownNodeError(GraphError):
    """A node refers to a node the graph does not have. Caused by the graph's author."""


class CycleError(GraphError):
    """The dependencies form a cycle; ``cycle`` lists it in order. Caused by the graph's author."""

    def __init__(self, cycle: list[str]) -> None:
        path = " -> ".join([*cycle, cycle[0]])
        super().__init__(f"cycle in graph: {path}", node=cycle[0])
        self.cycle = cycle


class TemplateError(GraphError):
    """A template names an input that no node provides. Caused by the graph's author."""


class ScopeError(GraphError):
    """Scope membership is not a tree (a member escapes its scope). Caused by the graph's author."""


class SerializationError(GraphError):
    """A serialized graph could not be read. Caused by whoever wrote the file."""
