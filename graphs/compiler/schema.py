"""The schema a prompt compiles from: ParallelPrompt's fields plus our verdict.

:class:`Extraction` is what an extractor (rules or a model) proposes; it is
also the JSON schema the LLM-assisted extractor is constrained to.
:class:`Schema` is an extraction after the five validation rules ran: it adds
``language``, ``validation_tier`` and the ``reasons`` behind the tier.
Field names follow the ParallelPrompt release so its rows can be read as-is.
The models do not enforce ``data`` XOR ``n``: that is a validation rule, and
a violation must be reported as a tier with a reason, not as a crash.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Category(StrEnum):
    """ParallelPrompt's canonical categories; any other name is a novel category."""

    REPEATED_GENERATION = "Repeated Generation"
    READING_COMPREHENSION = "Reading Comprehension"
    KEYWORD_EXTRACTION = "Keyword Extraction"
    NAMED_ENTITY_RECOGNITION = "Named Entity Recognition"
    TRANSLATION = "Translation"
    LANGUAGE_CORRECTION = "Language Correction"
    SENTIMENT_ANALYSIS = "Sentiment Analysis"


CANONICAL_CATEGORIES = frozenset(c.value for c in Category)
PLACEHOLDERS = ("data", "context", "n")


class Tier(StrEnum):
    """How far the validation rules trust a schema."""

    HIGH = "high"
    MEDIUM = "medium"
    REJECTED = "rejected"


class Extraction(BaseModel):
    """An extractor's proposal for one prompt, before validation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parallelizable: bool = Field(description="Whether the prompt holds independent subtasks.")
    category: str = Field(
        "",
        description="One of the canonical ParallelPrompt categories or a short novel category name.",
    )
    template: str = Field(
        "",
        description="The task for one subtask, with {data} for the item and {context} for the shared text; "
        "repeated generation uses {n} or no placeholder.",
    )
    context: str = Field("", description="Text shared by every subtask (a passage, rules, examples).")
    data: list[str] | None = Field(None, description="The items, one subtask each; null when n is used.")
    n: int | None = Field(None, description="How many times to repeat the generation; null when data is used.")


class Schema(Extraction):
    """A validated extraction: the compiler's view of one prompt."""

    language: str = Field("und", description="ISO 639-1 code of the prompt's instruction, or 'und'.")
    validation_tier: Tier = Field(Tier.REJECTED, description="high / medium: compile in parallel; rejected: serial.")
    reasons: tuple[str, ...] = Field((), description="Why the tier is what it is, one sentence each.")
    pattern: str = Field("", description="Which extractor pattern produced the schema (for reports).")
    stated_count: int | None = Field(None, description="A count the prompt states for its items, if any.")

    @property
    def is_novel_category(self) -> bool:
        """True when the category is not one of the seven canonical ones."""
        return bool(self.category) and self.category not in CANONICAL_CATEGORIES

    @property
    def count(self) -> int:
        """How many subtasks: the number of items, or n."""
        return len(self.data) if self.data is not None else (self.n or 0)

    @property
    def passes(self) -> bool:
        """Validation passed (tier high or medium)."""
        return self.validation_tier is not Tier.REJECTED


def rejected(reason: str, *, language: str = "und") -> Schema:
    """The schema of a prompt with no parallel structure found."""
    return Schema(parallelizable=False, language=language, validation_tier=Tier.REJECTED, reasons=(reason,))
