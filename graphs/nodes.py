"""Node specifications: inert, frozen data that say what a node computes.

A node's dependencies are derived from its own fields once (placeholders,
``after``, scope members) and never change. Nothing about a run (state,
outputs, timings) is stored here: that lives in the runtime's run state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graphs.params import SamplingParams
from graphs.template import NAME_PATTERN, placeholders, render

_NAME = re.compile(NAME_PATTERN + r"\Z")
_LEADING_MARKER = re.compile(r"^(?:\d{1,3}[.)]|[-*•])\s+")
SCOPE_ITEM_FIELDS = ("output", "index", "name")


class NodeKind(StrEnum):
    """What a node does."""

    GENERATE = "generate"
    SCOPE = "scope"
    COMBINE = "combine"


class _NodeBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Unique within the graph; letters, digits, '_' and '-'.")
    after: tuple[str, ...] = Field((), description="Nodes that must finish first without feeding data.")

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"node name {name!r} must match {NAME_PATTERN}")
        return name

    @cached_property
    def dependencies(self) -> tuple[str, ...]:
        """Every node this one waits for, in a stable order."""
        return tuple(dict.fromkeys((*self.inputs, *self.after)))

    @property
    def inputs(self) -> tuple[str, ...]:
        """Nodes whose outputs this node reads."""
        return ()


class GenerateNode(_NodeBase):
    """One LLM generation whose prompt is a template over other nodes' outputs."""

    kind: Literal[NodeKind.GENERATE] = NodeKind.GENERATE
    prompt: str = Field(description="Template: {name} inserts that node's output; {{ and }} are braces.")
    system: str | None = Field(None, description="System message for the generation.")
    assistant_prefix: str = Field(
        "",
        description="Template like prompt ({name} inserts that node's output): text the assistant already said, "
        "which the generation continues.",
    )
    params: SamplingParams = Field(default_factory=SamplingParams, description="Sampling parameters.")
    timeout_s: float | None = Field(None, gt=0, description="Per-node timeout; the runtime default if unset.")
    expected_tokens: int | None = Field(
        None, ge=0, description="Planner's estimate of output length; max_tokens if unset."
    )

    @property
    def inputs(self) -> tuple[str, ...]:
        return placeholders(self.prompt) + placeholders(self.system or "") + placeholders(self.assistant_prefix)

    @property
    def cost(self) -> int:
        """Expected output tokens, for critical-path planning."""
        return self.params.max_tokens if self.expected_tokens is None else self.expected_tokens


class ScopeNode(_NodeBase):
    """A join barrier: done when all members are; output is the members' outputs joined in order."""

    kind: Literal[NodeKind.SCOPE] = NodeKind.SCOPE
    members: tuple[str, ...] = Field(description="Member nodes in declaration order.")
    separator: str = Field("\n\n", description="Put between members' formatted outputs.")
    item_format: str = Field(
        "{output}", description="Template per member; may use {output}, {index} (1-based) and {name}."
    )
    strip_markers: bool = Field(
        False,
        description="Drop a list marker ('1.', '2)', '-', '*') a member's output starts with, so a join "
        "that numbers the items does not number them twice.",
    )
    strip_label: str = Field(
        "",
        description="Regex of the label the join writes per item (a prompt's own format, '[Plan 2]:'); a member's "
        "output that starts with such a label has it dropped.",
    )

    def join(self, outputs: Mapping[str, str]) -> str:
        """This scope's output, given its members' outputs."""
        return self.separator.join(
            render(self.item_format, {"output": self._clean(outputs[m]), "index": str(i), "name": m})
            for i, m in enumerate(self.members, start=1)
        )

    def _clean(self, output: str) -> str:
        if self.strip_label:
            output = re.sub(f"^(?:{self.strip_label})", "", output.strip(), count=1)
        return _LEADING_MARKER.sub("", output.strip(), count=1) if self.strip_markers else output

    @field_validator("strip_label")
    @classmethod
    def _check_strip_label(cls, strip_label: str) -> str:
        try:
            re.compile(strip_label)
        except re.error as exc:
            raise ValueError(f"strip_label {strip_label!r} is not a regular expression: {exc}") from exc
        return strip_label

    @field_validator("item_format")
    @classmethod
    def _check_item_format(cls, item_format: str) -> str:
        unknown = set(placeholders(item_format)) - set(SCOPE_ITEM_FIELDS)
        if unknown:
            raise ValueError(f"item_format may use only {{output}}, {{index}}, {{name}}, not {sorted(unknown)}")
        return item_format

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.members


class CombineNode(_NodeBase):
    """Formats other nodes' outputs into text without an LLM call."""

    kind: Literal[NodeKind.COMBINE] = NodeKind.COMBINE
    template: str = Field(description="Template over other nodes' outputs.")

    @property
    def inputs(self) -> tuple[str, ...]:
        return placeholders(self.template)


Node = Annotated[GenerateNode | ScopeNode | CombineNode, Field(discriminator="kind")]
