"""``forkjoin serve``: an OpenAI-compatible endpoint on Ray Serve in front of the replica pool.

Starts Ray (embedded or joined) and the engine replicas as ``forkjoin run``
does (:func:`orchestrator.engines.open_engine`), then the Serve application
of :mod:`orchestrator.serving.deployment`, prints the base URL on stdout and
serves until Ctrl-C or SIGTERM, which shut Serve down, then the replicas,
then an embedded Ray: nothing is left running. Flags are checked, and the
address is checked to be free, before any engine starts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys

from graphs.errors import ForkjoinError
from orchestrator.cli.args import int_range
from orchestrator.config import RuntimeConfig
from orchestrator.engines import EngineOptions, add_engine_arguments, open_engine, options_from_args
from orchestrator.progress import current_progress
from orchestrator.serving.service import ServiceConfig

API_KEY_ENV = "FORKJOIN_API_KEY"


class ServeError(ForkjoinError):
    """The endpoint cannot start as asked (address in use, empty key). Caused by the user."""


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="serve the OpenAI API (chat, completions) on Ray Serve")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int_range(1, 65535), default=8000, help="port (default 8000)")
    serve.add_argument("--api-key", default=os.environ.get(API_KEY_ENV),
                       help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV}; unset: open)")
    serve.add_argument("--max-pending", type=int_range(1, 100000), default=32,
                       help="requests held at once; one more gets 429 (default 32)")
    serve.add_argument("--max-concurrency", type=int_range(1, 4096), default=16,
                       help="engine requests in flight across all requests (default 16)")
    serve.add_argument("--max-tokens", type=int_range(1, 32768), default=512,
                       help="token cap when a request sets no max_tokens (default 512)")
    add_engine_arguments(serve)
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    if args.api_key is not None and not args.api_key.strip():
        raise ServeError(f"--api-key (or ${API_KEY_ENV}) is empty")
    check_free(args.host, args.port)
    options = options_from_args(args)
    service = ServiceConfig(model=options.model_name, max_pending=args.max_pending,
                            default_max_tokens=args.max_tokens,
                            runtime=RuntimeConfig(max_concurrency=args.max_concurrency))
    try:
        asyncio.run(_serve(options, service, args.host, args.port, args.api_key))
    except KeyboardInterrupt:
        print("forkjoin serve: stopped", file=sys.stderr)
    return 0


async def _serve(options: EngineOptions, service: ServiceConfig, host: str, port: int, api_key: str | None) -> None:
    from orchestrator.serving import deployment

    async with open_engine(options) as pool:
        spec = deployment.ServeSpec(service=service, pool=pool.config, replicas=pool.replicas, api_key=api_key)
        try:
            with current_progress().status("starting Ray Serve"):
                url = await asyncio.to_thread(deployment.start, spec, host=host, port=port)
            print(f"forkjoin serve: {service.model} on {len(spec.replicas)} replica(s) at {url}"
                  f"{' (API key required)' if api_key else ''}", flush=True)
            await asyncio.Event().wait()  # until Ctrl-C / SIGTERM cancels this task
        finally:
            await asyncio.to_thread(deployment.stop)


def check_free(host: str, port: int) -> None:
    """Fail in one line unless ``host:port`` can be listened on (before paying for an engine start)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ServeError(f"--host {host!r} does not resolve ({exc.strerror or exc})") from exc
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
