"""Errors the endpoint answers with, in OpenAI's shape: ``{"error": {message, type, param, code}}``.

An :class:`ApiError` carries its HTTP status, so the HTTP layer only renders
it; everything that raises one is testable without a server. Statuses follow
OpenAI's API: 400 invalid request, 401 bad or missing key, 404 unknown model
or route, 429 overloaded (with ``Retry-After``), 500 a request that failed
inside the graph, 503 no engine to run it.
"""

from __future__ import annotations

from typing import Any

from graphs.errors import ForkjoinError


class ApiError(ForkjoinError):
    """A request the endpoint refuses or could not answer; ``status`` says whose fault (4xx: the client's)."""

    def __init__(
        self, status: int, message: str, *, kind: str = "invalid_request_error",
        param: str | None = None, code: str | None = None, retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code
        self.retry_after_s = retry_after_s

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI's clients parse."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def headers(self) -> dict[str, str]:
        """Extra response headers (``Retry-After`` on 429)."""
        return {} if self.retry_after_s is None else {"Retry-After": str(self.retry_after_s)}


def invalid(message: str, param: str | None = None) -> ApiError:
    """400: the request body is wrong."""
    return ApiError(400, message, param=param)


def unauthorized() -> ApiError:
    """401: no ``Authorization: Bearer KEY`` header with the server's key."""
    return ApiError(401, "Incorrect or missing API key: send 'Authorization: Bearer KEY'.",
                    code="invalid_api_key")


def unknown_model(asked: str, served: str) -> ApiError:
    """404: the request names a model this server does not serve."""
    return ApiError(404, f"The model '{asked}' does not exist; this server serves '{served}'.",
                    param="model", code="model_not_found")


def overloaded(depth: int, retry_after_s: int) -> ApiError:
    """429: the server already holds ``depth`` requests."""
    return ApiError(429, f"The server is at its queue depth ({depth} requests); retry after {retry_after_s} s.",
                    kind="rate_limit_error", code="queue_full", retry_after_s=retry_after_s)


def failed(message: str) -> ApiError:
    """500: the graph ran but a node failed."""
    return ApiError(500, message, kind="server_error")


def unavailable(message: str) -> ApiError:
    """503: no live engine replica can run the request."""
    return ApiError(503, message, kind="server_error", code="engine_unavailable", retry_after_s=5)
