"""forkjoin's ground floor: task graphs as pure data.

Nothing here touches Ray, an engine or the file system. Public API: the graph
and its builder, node specs, sampling parameters, template escaping, views
for people, and the compile-time errors.
"""

from graphs.errors import (
    CycleError,
    DuplicateNodeError,
    ForkjoinError,
    GraphError,
    ScopeError,
    SerializationError,
    TemplateError,
    UnknownNodeError,
)
from graphs.graph import Graph, GraphSpec
from graphs.nodes import CombineNode, GenerateNode, Node, NodeKind, ScopeNode
from graphs.params import SamplingParams
from graphs.render import dump, summary, to_dot, to_mermaid
from graphs.template import escape, placeholders, render

__all__ = [
    "CombineNode",
    "CycleError",
    "DuplicateNodeError",
    "ForkjoinError",
    "GenerateNode",
    "Graph",
    "GraphError",
    "GraphSpec",
    "Node",
    "NodeKind",
    "SamplingParams",
    "ScopeError",
    "ScopeNode",
    "SerializationError",
    "TemplateError",
    "UnknownNodeError",
    "dump",
    "escape",
    "placeholders",
    "render",
    "summary",
    "to_dot",
    "to_mermaid",
]
