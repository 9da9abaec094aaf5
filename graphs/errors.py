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


def one_line(error: BaseException, limit: int = 400) -> str:
    """An error as one line of at most ``limit`` characters, for a message a person reads.

    A pydantic ValidationError gives its first error as ``field: message (got
    value)``; any other error the first non-blank line of its text (its type's
    name if it has none).
    """
    errors = getattr(error, "errors", None)
    text = str(error)
    if callable(errors) and hasattr(error, "title"):
        first = errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or str(error.title)
        value = first.get("input")
        shown = f" (got {value!r})" if isinstance(value, int | float | str) and not isinstance(value, bool) else ""
        text = f"{field}: {str(first['msg']).removeprefix('Value error, ')}{shown}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else type(error).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."
