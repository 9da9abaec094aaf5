"""An in-process engine that plays scripted answers with set latencies.

For unit tests of the scheduler only: it proves concurrency and barrier order
by timing, and it injects failures. It never stands in for a model in the
command line. Tokens are whitespace-delimited words, so counts are exact and
easy to reason about in tests.

With ``max_running`` it also plays an engine's queue: at most that many
requests generate at once, the others wait for a slot, and the last chunk
reports the wait (``queue_s``) and the time from arrival to the first token
(``engine_ttft_s``), as vLLM does.

With ``continues`` an answer that begins with the request's assistant prefix
plays only the rest, as a model continues its own text (what failover sends).

With ``subprocesses`` it also plays vLLM's process tree, for tests of what a
killed driver leaves behind: a ``spawn`` child (the EngineCore, not daemonic)
that spawns a daemonic grandchild (the worker) and waits; ``aclose`` ends both.

Invariant: ``active`` holds exactly the requests whose stream is open; a
closed or cancelled stream is moved to ``aborted`` in ``finally``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Chunk, EngineDeadError, EngineError, EngineStats, GenerateRequest, RequestError

_TOKEN = re.compile(r"\s*\S+")

Responder = Callable[[GenerateRequest], str]


class CallRecord(BaseModel):
    """When one request ran inside the scripted engine."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(description="The request's id.")
    prompt: str = Field(description="The prompt as received.")
    assistant_prefix: str = Field("", description="The assistant prefix as received.")
    chunk_interval_s: float | None = Field(None, description="The chunk interval the request asked for.")
    start: float = Field(description="perf_counter() when generation began.")
    end: float | None = Field(None, description="perf_counter() when the stream closed.")
    outcome: str = Field("running", description="'finished', 'aborted' or 'failed'.")


def _default_responder(request: GenerateRequest) -> str:
    return f"answer to: {request.prompt}"


def _from_mapping(answers: Mapping[str, str]) -> Responder:
    def respond(request: GenerateRequest) -> str:
        for key, answer in answers.items():
            if key in request.prompt:
                return answer
        return _default_responder(request)

    return respond


def _truncate_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, str | None]:
    """The text before the earliest stop string, and that string (the first listed on a tie)."""
    found = [(i, order, s) for order, s in enumerate(stop) if (i := text.find(s)) >= 0]
    if not found:
        return text, None
    cut, _, matched = min(found)
    return text[:cut], matched


def _title(name: str) -> None:
    """Name the process as vLLM names its own (``VLLM::Worker``), so a person can tell it in ``ps``."""
    import setproctitle  # Ray's dependency

    setproctitle.setproctitle(f"forkjoin::{name}")


def _play_engine_core() -> None:
    """vLLM's EngineCore as a process: spawn a daemonic worker, wait; SIGTERM ends both."""
    _title("ScriptedCore")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exits through multiprocessing, which ends the worker
    worker = multiprocessing.get_context("spawn").Process(target=_play_worker, name="ScriptedWorker", daemon=True)
    worker.start()
    worker.join()


def _play_worker() -> None:
    """vLLM's worker as a process: idle until a signal ends it."""
    _title("ScriptedWorker")
    signal.pause()


class ScriptedEngine:
    """Streams scripted answers word by word with ``token_delay_s`` between words.

    ``respond`` maps a request to its full answer: a callable, or a mapping
    from a prompt substring to an answer. A responder that raises makes that
    request fail after ``first_token_delay_s``.
    """

    def __init__(
        self,
        respond: Responder | Mapping[str, str] | None = None,
        *,
        token_delay_s: float = 0.01,
        first_token_delay_s: float = 0.0,
        max_running: int | None = None,
        name: str = "scripted",
        subprocesses: bool = False,
        continues: bool = False,
    ) -> None:
        match respond:
            case None:
                self._respond: Responder = _default_responder
            case Mapping():
                self._respond = _from_mapping(respond)
            case _:
                self._respond = respond
        self.token_delay_s = token_delay_s
        self.first_token_delay_s = first_token_delay_s
        self._slots = asyncio.Semaphore(max_running) if max_running is not None else None
        self.name = name
        self.calls: list[CallRecord] = []
        self.active: set[str] = set()
        self.aborted: list[str] = []
        self.generated_tokens = 0
        self.dead = False
        self.continues = continues
        self.core: multiprocessing.process.BaseProcess | None = None
        if subprocesses:
            self.core = multiprocessing.get_context("spawn").Process(target=_play_engine_core, name="ScriptedCore")
            self.core.start()

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        if self.dead:
            raise EngineDeadError(f"engine {self.name} is dead")
        record = CallRecord(
            request_id=request.request_id,
            prompt=request.prompt,
            assistant_prefix=request.assistant_prefix,
            chunk_interval_s=request.chunk_interval_s,
            start=time.perf_counter(),
        )
        self.calls.append(record)
        self.active.add(request.request_id)
        try:
            async for chunk in self._queued(request) if self._slots is not None else self._play(request):
                yield chunk
            record.outcome = "finished"
        except BaseException as exc:
            record.outcome = "failed" if isinstance(exc, EngineError) else "aborted"
            if record.outcome == "aborted":
                self.aborted.append(request.request_id)
            raise
        finally:
            record.end = time.perf_counter()
            self.active.discard(request.request_id)

    async def _queued(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        """``_play`` once a slot is free; the last chunk says how long the request queued."""
        assert self._slots is not None
        arrived = time.perf_counter()
        async with self._slots:
            queue_s = time.perf_counter() - arrived
            first: float | None = None
            async for chunk in self._play(request):
                if chunk.tokens and first is None:
                    first = time.perf_counter() - arrived
                if chunk.finish_reason is not None:
                    chunk = chunk.model_copy(update={"queue_s": queue_s, "engine_ttft_s": first})
                yield chunk

    async def _play(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        await asyncio.sleep(self.first_token_delay_s)
        try:
            answer = self._respond(request)
        except EngineError:
            raise
        except Exception as exc:
            raise RequestError(f"scripted failure: {exc}") from exc
        if self.continues and request.assistant_prefix and answer.startswith(request.assistant_prefix):
            answer = answer[len(request.assistant_prefix):]
        answer, stop = _truncate_at_stop(answer, request.params.stop)
        words = _TOKEN.findall(answer)
        max_tokens = request.params.max_tokens
        # Stop strings cost no tokens here; reaching the stop within the budget ends with "stop".
        truncated = len(words) > max_tokens or (len(words) == max_tokens and stop is None)
        prompt_tokens = len(_TOKEN.findall(request.prompt))
        for i, word in enumerate(words[:max_tokens]):
            await asyncio.sleep(self.token_delay_s)
            self.generated_tokens += 1
            yield Chunk(text=word, tokens=1, prompt_tokens=prompt_tokens if i == 0 else None, replica=self.name)
        ending = {"finish_reason": "length"} if truncated else {"finish_reason": "stop", "stop_reason": stop}
        yield Chunk(text="", tokens=0, replica=self.name, **ending)

    async def stats(self) -> EngineStats:
        if self.dead:  # as vLLM's engine reports a dead EngineCore
            raise EngineDeadError(f"engine {self.name} is dead")
        return EngineStats(name=self.name, running=len(self.active), generated_tokens=self.generated_tokens)

    async def aclose(self) -> None:
        self.dead = True
        if self.core is not None and self.core.is_alive():
            self.core.terminate()
            await asyncio.to_thread(self.core.join, 10)
