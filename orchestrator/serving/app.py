"""The HTTP face of the endpoint: a FastAPI app over a :class:`~orchestrator.serving.service.Service`.

Routes: ``POST /v1/chat/completions``, ``POST /v1/completions`` (JSON, or
server-sent events with ``stream: true``, ending ``data: [DONE]``),
``GET /v1/models`` and ``GET /health`` (200 ok, 503 degraded when no replica
answers). Every error is OpenAI's JSON with its status. With an API key,
every route but ``/health`` needs ``Authorization: Bearer KEY`` (else 401).

The app gets its service from an async provider, so a Ray Serve replica can
attach to the engine pool inside the event loop that serves requests; tests
give it a service over a scripted engine. A streamed response closes its
chunk stream however it ends (done, client gone, request cancelled), which
cancels the run and aborts its engine requests, and then frees its queue place.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from graphs.errors import one_line
from orchestrator.serving.errors import ApiError, invalid, unauthorized
from orchestrator.serving.protocol import ChatRequest, CompletionRequest, parse_request
from orchestrator.serving.responses import Kind
from orchestrator.serving.service import Service

ServiceProvider = Callable[[], Awaitable[Service]]


class EventStream(StreamingResponse):
    """Server-sent events of a chunk stream; the stream is closed and ``on_close`` called however it ends."""

    def __init__(self, chunks: AsyncIterator[dict[str, Any]], on_close: Callable[[], None]) -> None:
        self._on_close = on_close
        super().__init__(_events(chunks), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                await self.body_iterator.aclose()  # type: ignore[union-attr]
            finally:
                self._on_close()


async def _events(chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    async with aclosing(chunks):
        async for chunk in chunks:
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def build_app(provider: ServiceProvider, *, api_key: str | None = None) -> FastAPI:
    """The FastAPI app; ``api_key`` set: every route but /health requires it."""
    app = FastAPI(title="forkjoin", docs_url=None, redoc_url=None, openapi_url=None)
    guarded = [Depends(_key_check(api_key))] if api_key else []

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(ApiError(exc.status_code, str(exc.detail)).body(), status_code=exc.status_code)

    @app.post("/v1/chat/completions", dependencies=guarded)
    async def chat(request: Request) -> Any:
        return await answer(await provider(), Kind.CHAT, await _body(request))

    @app.post("/v1/completions", dependencies=guarded)
    async def completions(request: Request) -> Any:
        return await answer(await provider(), Kind.COMPLETION, await _body(request))

    @app.get("/v1/models", dependencies=guarded)
    async def models() -> Any:
        return (await provider()).models()

    @app.get("/health")
    async def health() -> JSONResponse:
        report = await (await provider()).health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    return app


async def answer(service: Service, kind: Kind, body: Any) -> JSONResponse | EventStream:
    """Validate, admit, plan and run one request: JSON, or events when it asks to stream."""
    parsed = parse_request(ChatRequest if kind is Kind.CHAT else CompletionRequest, body)
    ticket = service.admit()
    try:
        chosen = service.prepare(parsed)
    except BaseException:
        ticket.release()
        raise
    if parsed.stream:
        return EventStream(service.stream(kind, parsed, chosen), ticket.release)
    with ticket:
        return JSONResponse(await service.complete(kind, parsed, chosen))


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid(f"the body is not valid JSON: {one_line(exc)}") from exc


def _key_check(api_key: str) -> Callable[[Request], None]:
    expected = f"Bearer {api_key}".encode()

    def check(request: Request) -> None:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise unauthorized()

    return check
