"""Failing over mid-stream: how a request continues on another replica.

Pure (no Ray): the pool records what each stream delivered in a
:class:`Progress` and asks :func:`continuation` for the request to send next.
A request with no output yet is sent again as is; one with partial output
continues from it: the text so far joins the assistant's answer
(``assistant_prefix``, or the prompt when ``raw``) and ``max_tokens`` shrinks
by the tokens already produced, so the consumer sees one stream. Its final
chunk (``finish_reason``, ``stop_reason``) is the last attempt's, unchanged.
Structured output cannot continue (the grammar would restart from the top).
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.engine import Chunk, GenerateRequest, RequestError


@dataclass
class Progress:
    """What one request has streamed so far, over every attempt."""

    text: str = ""
    tokens: int = 0
    chunks: int = 0
    finished: bool = False


def continuation(request: GenerateRequest, progress: Progress, attempt: int) -> GenerateRequest | None:
    """The request to send on attempt ``attempt``; None when nothing is left to generate."""
    if attempt == 1:
        return request
    retry_id = f"{request.request_id}~{attempt}"
    if progress.chunks == 0:
        return request.model_copy(update={"request_id": retry_id})
    if request.json_schema is not None:
        raise RequestError(
            f"request {request.request_id}: replica died mid-stream; structured output cannot resume"
        )
    remaining = request.params.max_tokens - progress.tokens
    if remaining <= 0:
        return None
    if request.raw:
        said = {"prompt": request.prompt + progress.text}
    else:
        said = {"assistant_prefix": request.assistant_prefix + progress.text}
    params = request.params.model_copy(update={"max_tokens": remaining})
    return request.model_copy(update={"request_id": retry_id, "params": params, **said})


def account(chunk: Chunk, progress: Progress, *, resumed: bool) -> Chunk:
    """Record a delivered chunk; a resumed attempt's prompt counts are dropped (already reported)."""
    progress.text += chunk.text
    progress.tokens += chunk.tokens
    progress.chunks += 1
    progress.finished = chunk.finish_reason is not None
    if resumed and chunk.prompt_tokens is not None:
        return chunk.model_copy(update={"prompt_tokens": None, "cached_tokens": None})
    return chunk
