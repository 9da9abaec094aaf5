"""PASTA-LANG: the annotation language a model uses to mark parallel parts of its answer.

Pure: no I/O, no engines. Public API: :func:`parse` / :func:`validate`
(raising :class:`PastaSyntaxError` with line, column and rule),
:func:`remove_pasta`, :func:`render` (canonical form), :func:`main_stream`,
:func:`dump` (scope tree), :func:`sync_prefix`, :func:`strip_tags` (lenient,
never raises), and the tree types. Modules behind it: ``lexer`` (tags and
the error type), ``tree`` (parser), ``render``, ``prefix`` (section 2),
``convert`` (task graphs), ``stream`` (tags read from a token stream),
``lists`` (list structure, also while streaming), ``prompts`` (the prompted
mode's system prompt), ``training`` (list heuristic, masks, filters),
``records`` (training records), ``budget`` (lists mode's shared token
budget), ``latency`` (the latency filter on an engine curve, and lists
mode's predicted latency), ``list_answer`` (whether a prompt's answer is
likely a list, and of how many items) and ``split`` (the train/test split
of annotated prompts).
"""

from graphs.pasta.lexer import PastaSyntaxError, Rule, TagKind, strip_tags
from graphs.pasta.prefix import sync_prefix
from graphs.pasta.render import dump, joined, main_stream, remove_pasta, render
from graphs.pasta.tree import Dialect, Document, Fork, Node, Scope, Text, parse, validate

__all__ = [
    "Dialect",
    "Document",
    "Fork",
    "Node",
    "PastaSyntaxError",
    "Rule",
    "Scope",
    "TagKind",
    "Text",
    "dump",
    "joined",
    "main_stream",
    "parse",
    "remove_pasta",
    "render",
    "strip_tags",
    "sync_prefix",
    "validate",
]
