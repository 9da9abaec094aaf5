"""Turning a parsed PASTA-LANG tree back into text.

Role: the few views of one :class:`Document` that callers need: the joined
text without tags (``remove_pasta``), the canonical annotated form (original
dialect, every fork written ``<promise/><async>...</async>``), the main stream
alone (forks as bare promises: what the interpreter's main generation
writes), and an indented dump of the scope tree for people and golden tests.

Invariant: ``remove_pasta(render(doc)) == remove_pasta(doc)`` for every tree,
and ``parse(render(doc))`` gives back the same structure.
"""

from __future__ import annotations

from graphs.pasta.tree import Document, Fork, Node, Scope, Text, parse


def _attributes(fork: Fork) -> str:
    parts = []
    if fork.topic is not None:
        parts.append(f' topic="{fork.topic}"')
    if fork.tokens is not None:
        parts.append(f' tokens="{fork.tokens}"')
    return "".join(parts)


def joined(nodes: tuple[Node, ...]) -> str:
    """The text after every scope has joined: fork contents in place of their promises, no tags."""
    out: list[str] = []
    for node in nodes:
        match node:
            case Text(text=text):
                out.append(text)
            case Fork(body=body):
                out.append(joined(body) if body is not None else "")
            case Scope(children=children):
                out.append(joined(children))
    return "".join(out)


def annotated(nodes: tuple[Node, ...], *, with_bodies: bool = True) -> str:
    """Canonical annotated text; ``with_bodies=False`` writes forks as bare promises."""
    out: list[str] = []
    for node in nodes:
        match node:
            case Text(text=text):
                out.append(text)
            case Fork(body=body) as fork:
                out.append(f"<promise{_attributes(fork)}/>")
                if with_bodies and body is not None:
                    out.append(f"<async>{annotated(body)}</async>")
            case Scope(children=children):
                out.append(f"<scope>{annotated(children, with_bodies=with_bodies)}</scope>")
    return "".join(out)


def remove_pasta(source: str | Document) -> str:
    """The response without PASTA-LANG tags, fork contents at their promises (validates text)."""
    document = parse(source) if isinstance(source, str) else source
    return joined(document.children)


def render(document: Document) -> str:
    """The canonical annotated text of ``document`` (original dialect)."""
    return annotated(document.children)


def main_stream(document: Document) -> str:
    """What the main generation writes: the canonical text with forks as bare promises."""
    return annotated(document.children, with_bodies=False)


def _preview(text: str, width: int = 48) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= width else flat[: width - 3] + "...")


def _dump(nodes: tuple[Node, ...], depth: int, out: list[str]) -> None:
    pad = "  " * depth
    for node in nodes:
        match node:
            case Text(text=text, start=start) if text.strip():
                out.append(f"{pad}text {start.line}:{start.column} {_preview(text)}")
            case Text():
                continue
            case Scope(children=children, start=start, implicit=implicit):
                forks = sum(isinstance(child, Fork) for child in children)
                kind = "scope (implicit)" if implicit else "scope"
                out.append(f"{pad}{kind} {start.line}:{start.column} forks={forks}")
                _dump(children, depth + 1, out)
            case Fork(body=body, start=start, topic=topic):
                about = f" topic={topic!r}" if topic is not None else ""
                state = "pending" if body is None else _preview(joined(body))
                out.append(f"{pad}fork {start.line}:{start.column}{about} {state}")
                if body is not None and any(isinstance(child, Scope | Fork) for child in body):
                    _dump(body, depth + 1, out)


def dump(document: Document) -> str:
    """An indented listing of scopes, forks and text with their line:column."""
    out = [f"document ({document.dialect})"]
    _dump(document.children, 1, out)
    return "\n".join(out)
