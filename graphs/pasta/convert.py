"""Converting an annotated response into a task graph.

Role: scopes become scope nodes and forks (asyncs) become generate nodes, so
the parallel structure a model wrote can be shown (``forkjoin graph show``)
and executed by the runtime. The main stream is known text: it becomes the
template of one ``answer`` combine node, with a ``{fork}`` placeholder where
each fork's content goes, waiting for every top-level scope.

A fork node is a true continuation, exactly the request the interpreter
sends: the main answer's system message and question, and as assistant
prefix the fork's synchronous prefix as the model reads it (open scopes'
``<scope>`` and earlier ``<promise/>`` kept, joined scopes tag-free; see
:mod:`graphs.pasta.prefix`) followed by ``<async>``; it stops at
``</async>``. Forks written inside a fork's body belong to that fork's
generation and get no node of their own.

Invariants: node names are derived from positions (``scope-1``,
``scope-1-fork-2``, ``scope-1-scope-1``), so the same text always gives the
same graph; rendering the ``answer`` node with each fork's recorded content
gives back :func:`remove_pasta` of the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphs.graph import Graph
from graphs.nodes import CombineNode, GenerateNode, ScopeNode
from graphs.params import SamplingParams
from graphs.pasta.render import joined
from graphs.pasta.tree import Document, Fork, Node, Scope, Text
from graphs.template import escape

FORK_STOP = "</async>"


@dataclass(slots=True)
class _Builder:
    """Collects nodes while walking the tree; ``answer`` is the combine template being written."""

    question: str
    system: str | None
    max_tokens: int
    nodes: list[GenerateNode | ScopeNode | CombineNode] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)
    top_scopes: list[str] = field(default_factory=list)

    def fork(self, fork: Fork, name: str, prefix: str) -> str:
        """Add the fork's node; ``prefix`` is the model's view before it. Returns the view after it."""
        content = joined(fork.body) if fork.body is not None else ""
        promise = "<promise/>" if fork.has_promise else ""
        expected = fork.tokens if fork.tokens is not None else len(content.split())
        max_tokens = max(self.max_tokens, 2 * (fork.tokens or 0)) or self.max_tokens
        self.nodes.append(
            GenerateNode(
                name=name,
                prompt=escape(self.question),
                system=escape(self.system) if self.system else None,
                assistant_prefix=escape(prefix + promise + "<async>"),
                params=SamplingParams(max_tokens=max_tokens, stop=(FORK_STOP,)),
                expected_tokens=expected,
            )
        )
        self.answer.append("{" + name + "}")
        return prefix + promise

    def scope(self, scope: Scope, name: str, prefix: str) -> str | None:
        """Add the scope's forks and nested scopes; None when it has no fork (no node).

        ``prefix`` is the model's view before ``<scope>``.
        """
        members: list[str] = []
        forks = scopes = 0
        prefix += "" if scope.implicit else "<scope>"
        for child in scope.children:
            match child:
                case Text(text=text):
                    self.answer.append(escape(text))
                    prefix += text
                case Fork() as fork:
                    forks += 1
                    members.append(f"{name}-fork-{forks}")
                    prefix = self.fork(fork, members[-1], prefix)
                case Scope() as inner:
                    scopes += 1
                    if (inner_name := self.scope(inner, f"{name}-scope-{scopes}", prefix)) is not None:
                        members.append(inner_name)
                    prefix += joined(inner.children)
        if not members:
            return None
        self.nodes.append(ScopeNode(name=name, members=tuple(members), separator="", item_format="{output}"))
        return name


def to_graph(document: Document, *, question: str = "", system: str | None = None, max_tokens: int = 256) -> Graph:
    """The task graph of an annotated response; ``question`` is the prompt it answered."""
    builder = _Builder(question=question, system=system, max_tokens=max_tokens)
    prefix = ""
    scopes = 0
    for child in document.children:
        match child:
            case Text(text=text):
                builder.answer.append(escape(text))
                prefix += text
            case Scope() as scope:
                scopes += 1
                if (name := builder.scope(scope, f"scope-{scopes}", prefix)) is not None:
                    builder.top_scopes.append(name)
                prefix += joined(scope.children)
            case Fork():
                raise AssertionError("the parser puts every fork inside a scope")
    answer = CombineNode(name="answer", template="".join(builder.answer), after=tuple(builder.top_scopes))
    return Graph([*builder.nodes, answer]).validate()


def _forks(nodes: tuple[Node, ...]) -> int:
    return sum(1 if isinstance(n, Fork) else _forks(n.children) if isinstance(n, Scope) else 0 for n in nodes)


def count_forks(document: Document) -> int:
    """Forks outside fork bodies: the generate nodes :func:`to_graph` makes."""
    return _forks(document.children)
