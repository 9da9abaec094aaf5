"""The HTTP layer over a scripted engine: routes, error JSON and statuses, the key, SSE, and a client leaving."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from actors import ScriptedEngine
from orchestrator.serving import Kind, Service, ServiceConfig, build_app
from orchestrator.serving.app import EventStream, answer

KEY = {"Authorization": "Bearer secret"}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "Give three short tips for staying focused."}]}


def serving(api_key: str | None = "secret", *, max_pending: int = 4, **options) -> tuple[ScriptedEngine, Service, TestClient]:
    engine = ScriptedEngine(**{"token_delay_s": 0.0, **options})
    service = Service(engine, ServiceConfig(model="m", max_pending=max_pending))

    async def provide() -> Service:
        return service

    return engine, service, TestClient(build_app(provide, api_key=api_key))


def test_without_the_key_every_route_but_health_is_401() -> None:
    _, _, client = serving()
    for response in (client.get("/v1/models"), client.post("/v1/chat/completions", json=CHAT),
                     client.post("/v1/completions", json=CHAT, headers={"Authorization": "Bearer wrong"})):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/health").status_code == 200
    assert client.get("/v1/models", headers=KEY).json()["data"][0]["id"] == "m"


def test_no_key_configured_means_open() -> None:
    _, _, client = serving(api_key=None)
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200


@pytest.mark.parametrize(("path", "body", "status", "message"), [
    ("/v1/chat/completions", b"{bad", 400, "the body is not valid JSON: Expecting property name enclosed in double quotes"),
    ("/v1/chat/completions", json.dumps({**CHAT, "temperature": -1}).encode(), 400,
     "temperature: Input should be greater than or equal to 0"),
    ("/v1/completions", json.dumps({"model": "x", "prompt": "p"}).encode(), 404, "The model 'x' does not exist"),
    ("/v1/nothing", b"{}", 404, "Not Found"),
])
def test_errors_are_openai_json_with_their_status(path: str, body: bytes, status: int, message: str) -> None:
    _, _, client = serving()
    response = client.post(path, content=body, headers=KEY)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"].startswith(message) and set(error) == {"message", "type", "param", "code"}


def test_a_full_queue_is_429_with_retry_after() -> None:
    _, service, client = serving(max_pending=1)
    with service.admit():
        response = client.post("/v1/chat/completions", json=CHAT, headers=KEY)
    assert (response.status_code, response.headers["retry-after"]) == (429, "1")
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert client.post("/v1/chat/completions", json=CHAT, headers=KEY).status_code == 200
    assert service.pending == 0


def test_a_streamed_answer_is_server_sent_events_ending_done() -> None:
    _, service, client = serving()
    response = client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=KEY)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    whole = client.post("/v1/chat/completions", json=CHAT, headers=KEY).json()
    assert text == whole["choices"][0]["message"]["content"]
    assert chunks[-1]["forkjoin"]["strategy"] == "parallel"
    assert service.pending == 0


def test_health_is_503_when_no_replica_is_live() -> None:
    async def none() -> int:
        return 0

    service = Service(ScriptedEngine(), ServiceConfig(model="m"), liveness=none)

    async def provide() -> Service:
        return service

    response = TestClient(build_app(provide)).get("/health")
    assert (response.status_code, response.json()["status"]) == (503, "degraded")


def test_a_client_that_leaves_mid_stream_aborts_the_graph_and_frees_its_place() -> None:
    engine = ScriptedEngine({"tip": " ".join(["word"] * 300)}, token_delay_s=0.01)
    service = Service(engine, ServiceConfig(model="m", max_pending=2))
    sent: list[dict] = []

    async def leave_after_some_text() -> None:
        response = await answer(service, Kind.CHAT, {**CHAT, "stream": True})
        assert isinstance(response, EventStream) and service.pending == 1

        async def receive() -> dict:
            while sum(m["type"] == "http.response.body" for m in sent) < 3:
                await asyncio.sleep(0.01)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.0"}, "method": "POST"}
        await response(scope, receive, send)

    asyncio.run(leave_after_some_text())
    assert service.pending == 0
    assert engine.active == set()
    assert len(engine.aborted) == 3
    assert not any(b"[DONE]" in m.get("body", b"") for m in sent)
