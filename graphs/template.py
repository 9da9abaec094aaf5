"""Prompt templates: text with ``{name}`` placeholders naming other nodes.

A placeholder is ``{`` + a node name + ``}``; ``{{`` and ``}}`` are literal
braces; any other brace is literal text too, so JSON inside a prompt survives.
Values are substituted once and never re-parsed: text inside a value can not
introduce placeholders. :func:`escape` turns arbitrary text into a template
that renders back to exactly that text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from graphs.errors import TemplateError

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_\-]*"
_TOKEN = re.compile(r"\{\{|\}\}|\{(" + NAME_PATTERN + r")\}")


def escape(text: str) -> str:
    """Make ``text`` literal inside a template: every brace is doubled."""
    return text.replace("{", "{{").replace("}", "}}")


def placeholders(template: str) -> tuple[str, ...]:
    """Names the template refers to, in first-use order, without repeats."""
    names = (m.group(1) for m in _TOKEN.finditer(template) if m.group(1))
    return tuple(dict.fromkeys(names))


def render(template: str, values: Mapping[str, str], *, owner: str | None = None) -> str:
    """Substitute every placeholder; a name without a value is a TemplateError."""

    def substitute(match: re.Match[str]) -> str:
        token, name = match.group(0), match.group(1)
        if not name:
            return token[0]
        if name not in values:
            where = f" in node '{owner}'" if owner else ""
            raise TemplateError(f"placeholder {{{name}}}{where} has no value", node=owner)
        return values[name]

    return _TOKEN.sub(substitute, template)
