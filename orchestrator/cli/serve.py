"""``forkjoin serve``: an OpenAI-compatible endpoint on Ray Serve in front of the replica pool; ``bench serve``.

Starts Ray (embedded or joined) and the engine replicas as ``forkjoin run``
does (:func:`orchestrator.engines.open_engine`), then the Serve application
of :mod:`orchestrator.serving.deployment`, prints the base URL on stdout and
serves until Ctrl-C or SIGTERM, which shut Serve down, then the replicas,
then an embedded Ray: nothing is left running. Flags are checked, and the
address is checked to be free, before any engine starts.

``forkjoin bench serve`` (:mod:`orchestrator.serving.bench`) measures plain
``vllm serve`` and then ``forkjoin serve`` on the same mixed workload; its
prompt files are read before either server starts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

from graphs.errors import ForkjoinError
from orchestrator.cli.args import dataset_file, int_range
from orchestrator.config import RuntimeConfig
from orchestrator.datasets import read_rows
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
        pass  # Ctrl-C before Serve ran: what had started was shut down on the way out
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
            await _until_stopped()
        finally:
            await asyncio.to_thread(deployment.stop)


async def _until_stopped() -> None:
    """Wait for Ctrl-C, SIGTERM or SIGHUP; then the caller shuts everything down and the command exits 0.

    Installed once Serve runs: by then Ray's and Serve's start-up have put their own SIGTERM handlers in place,
    and one of them aborts the process instead of unwinding (measured: exit 134, the temp dir left behind).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)  # kept through the shutdown: a second one does not cut it short
    await stop.wait()


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


LISTS = "../shared/data/parallelprompt_dev.jsonl"
PLAINS = "../shared/data/dolly200.jsonl"


def add_bench_parser(kinds: argparse._SubParsersAction) -> None:
    """``forkjoin bench serve`` (registered by orchestrator.cli.bench)."""
    bench = kinds.add_parser("serve", help="forkjoin serve against plain vllm serve: K clients, mixed prompts")
    bench.add_argument("--lists", type=dataset_file, default=LISTS, help=f"list-style prompts (default {LISTS})")
    bench.add_argument("--plains", type=dataset_file, default=PLAINS, help=f"plain prompts (default {PLAINS})")
    bench.add_argument("--limit", type=int_range(1, 100000), default=8,
                       help="prompts of each kind, evenly spaced through each file (default 8)")
    bench.add_argument("--clients", type=int_range(1, 256), default=4, help="concurrent clients (default 4)")
    bench.add_argument("--max-tokens", type=int_range(1, 32768), default=256, help="max_tokens per request (default 256)")
    bench.add_argument("--port", type=int_range(1, 65535), default=8000, help="port of both servers (default 8000)")
    bench.add_argument("--no-baseline", action="store_true", help="measure forkjoin serve only")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    add_engine_arguments(bench)
    bench.set_defaults(handler=bench_serve_command)


def bench_serve_command(args: argparse.Namespace) -> int:
    from orchestrator.serving import bench

    prompts = {kind: bench.spread([row["prompt"] for row in read_rows(path, required=("prompt",))], args.limit)
               for kind, path in (("list", args.lists), ("plain", args.plains))}
    check_free("127.0.0.1", args.port)
    options = options_from_args(args)
    config = bench.BenchServeConfig(clients=args.clients, max_tokens=args.max_tokens)
    work = bench.workload(prompts["list"], prompts["plain"])
    progress = current_progress()
    baseline = None
    if not args.no_baseline:
        engine = options.engine_config()
        log = Path(tempfile.mkdtemp(prefix="fj-bench-serve-")) / "vllm.log"  # kept if the server fails
        with progress.status(f"plain vllm serve: starting {engine.model}, then {len(work)} requests"):
            with bench.plain_vllm(engine, options.model_name, args.port, log) as url:
                samples, wall = asyncio.run(bench.drive(url, options.model_name, work, config))
        shutil.rmtree(log.parent)
        baseline = bench.summarize("vllm", samples, wall)
    with progress.status(f"forkjoin serve: starting, then {len(work)} requests"):
        samples, wall = asyncio.run(_bench_forkjoin(options, args.port, work, config))
    mine = bench.summarize("forkjoin", samples, wall)
    report = bench.ServeBench(config=config, prompts={k: len(v) for k, v in prompts.items()}, vllm=baseline,
                              forkjoin=mine, p50_ratio=bench.compare(baseline, mine))
    print(report.model_dump_json(indent=2) if args.json else bench.table(report))
    return 0


async def _bench_forkjoin(options: EngineOptions, port: int, work: list[tuple[str, str]], config) -> tuple:
    from orchestrator.serving import bench, deployment

    service = ServiceConfig(model=options.model_name, max_pending=max(32, config.clients * 2),
                            default_max_tokens=config.max_tokens)
    async with open_engine(options) as pool:
        spec = deployment.ServeSpec(service=service, pool=pool.config, replicas=pool.replicas)
        try:
            url = await asyncio.to_thread(deployment.start, spec, host="127.0.0.1", port=port)
            return await bench.drive(url, options.model_name, work, config)
        finally:
            await asyncio.to_thread(deployment.stop)
