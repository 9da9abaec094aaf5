"""Sampling parameters: the one model every layer passes to an engine.

``actors`` converts it to an engine's own type in exactly one function per
engine; nothing else builds engine-specific parameters.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SamplingParams(BaseModel):
    """How one generation samples tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_tokens: int = Field(256, ge=1, le=32768, description="Upper bound on generated tokens.")
    temperature: float = Field(0.0, ge=0.0, le=5.0, description="0 means greedy decoding.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    stop: tuple[str, ...] = Field((), description="Strings that end generation; not included in the output.")
    seed: int | None = Field(None, description="Per-request seed for reproducible sampling.")
