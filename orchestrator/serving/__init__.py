"""An OpenAI-compatible endpoint that runs each request through forkjoin's one runtime.

Public API: :class:`Service` / :class:`ServiceConfig` (the HTTP-free logic:
plan, run, stream, admit, health), :func:`build_app` (the FastAPI app over a
service), :class:`ApiError` (OpenAI-style errors with their status), and the
request models. The Ray Serve deployment lives in
:mod:`orchestrator.serving.deployment` (imported on demand: it needs Ray).
"""

from orchestrator.serving.app import build_app
from orchestrator.serving.errors import ApiError
from orchestrator.serving.protocol import ChatRequest, CompletionRequest, ForkjoinOptions, parse_request
from orchestrator.serving.responses import ForkjoinInfo, Kind, Usage
from orchestrator.serving.service import Service, ServiceConfig

__all__ = [
    "ApiError",
    "ChatRequest",
    "CompletionRequest",
    "ForkjoinInfo",
    "ForkjoinOptions",
    "Kind",
    "Service",
    "ServiceConfig",
    "Usage",
    "build_app",
    "parse_request",
]
