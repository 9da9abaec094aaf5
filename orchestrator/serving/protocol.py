"""The requests the endpoint accepts: OpenAI's chat and completion bodies, validated.

Fields honoured: ``model``, ``messages`` / ``prompt``, ``max_tokens`` (chat:
also ``max_completion_tokens``), ``temperature``, ``top_p``, ``stop``,
``seed``, ``stream`` (and ``stream_options.include_usage``), ``n`` (1 only),
and forkjoin's own ``forkjoin: {"strategy": ...}`` that the openai client
sends through ``extra_body``. Unknown fields are ignored, as OpenAI does, so
the request models use ``extra="ignore"`` where every other boundary model of
forkjoin forbids extras; forkjoin's own options forbid them. Invalid values
become a 400 :class:`~orchestrator.serving.errors.ApiError` naming the field.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.serving.errors import invalid
from orchestrator.strategies import Strategy

MAX_STOP = 4
"""OpenAI accepts at most four stop strings."""


class ForkjoinOptions(BaseModel):
    """Per-request control: ``extra_body={"forkjoin": {"strategy": "parallel"}}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: Literal["auto", "serial", "parallel"] = Field(
        "auto", description="auto: the cost model decides; serial: one generation; parallel: the compiled graph."
    )

    @property
    def as_strategy(self) -> Strategy:
        """The runtime's strategy enum."""
        return Strategy(self.strategy)


class StreamOptions(BaseModel):
    """``stream_options``: whether the last streamed chunk carries ``usage``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    include_usage: bool = Field(False, description="Send a last chunk with usage and no choices.")


class _Sampling(BaseModel):
    """The fields chat and completion requests share."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    model: str = Field(min_length=1, description="The served model's name (GET /v1/models).")
    max_tokens: int | None = Field(None, ge=1, le=32768, description="Cap on each generation's tokens.")
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Sampling temperature; unset keeps the plan's.")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    stop: str | list[str] | None = Field(None, description="Up to four strings that end generation.")
    seed: int | None = Field(None, description="Seed for reproducible sampling (branch i gets seed + i).")
    stream: bool = Field(False, description="Answer with server-sent events in final order.")
    stream_options: StreamOptions | None = Field(None, description="Streaming options.")
    n: int = Field(1, ge=1, le=1, description="Choices per request: only 1 is served.")
    forkjoin: ForkjoinOptions = Field(default_factory=ForkjoinOptions, description="forkjoin's per-request options.")

    @field_validator("stop")
    @classmethod
    def _bounded_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop strings, got {len(value)}")
        if value == "" or (isinstance(value, list) and "" in value):
            raise ValueError("stop strings must not be empty")
        return value

    @property
    def stops(self) -> tuple[str, ...]:
        """The stop strings as a tuple."""
        match self.stop:
            case None:
                return ()
            case str():
                return (self.stop,)
        return tuple(self.stop)

    @property
    def include_usage(self) -> bool:
        """Whether a streamed answer ends with a usage chunk."""
        return self.stream_options is not None and self.stream_options.include_usage


_T = TypeVar("_T", bound=_Sampling)


class TextPart(BaseModel):
    """One part of a message's content list; only text parts are served."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["text"] = Field(description="Only 'text'.")
    text: str = Field(description="The text.")


class ChatMessage(BaseModel):
    """One message of the conversation."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    role: Literal["system", "developer", "user", "assistant"] = Field(description="Who said it.")
    content: str | list[TextPart] = Field(description="Its text, or a list of text parts.")

    @property
    def text(self) -> str:
        """The content as one string."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatRequest(_Sampling):
    """POST /v1/chat/completions."""

    messages: list[ChatMessage] = Field(min_length=1, description="The conversation; the last one is the user's.")
    max_completion_tokens: int | None = Field(None, ge=1, le=32768, description="Newer name of max_tokens.")

    @field_validator("messages")
    @classmethod
    def _ends_with_user(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if messages[-1].role != "user":
            raise ValueError(f"the last message must be the user's, not '{messages[-1].role}'")
        return messages

    @property
    def token_cap(self) -> int | None:
        """max_completion_tokens, else max_tokens."""
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Sampling):
    """POST /v1/completions: the prompt is answered as an instruction (the chat template applies)."""

    prompt: str | list[str] = Field(description="The prompt; a list must hold exactly one string.")

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, prompt: str | list[str]) -> str | list[str]:
        if isinstance(prompt, list) and len(prompt) != 1:
            raise ValueError(f"exactly one prompt per request is served, got {len(prompt)}")
        return prompt

    @property
    def text(self) -> str:
        """The prompt as one string."""
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]

    @property
    def token_cap(self) -> int | None:
        """max_tokens."""
        return self.max_tokens


def parse_request(model: type[_T], body: Any) -> _T:
    """``body`` (decoded JSON) as ``model``; a 400 ApiError naming the first bad field otherwise."""
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise invalid(f"{param}: {first['msg']}" if param else first["msg"], param) from exc
