"""Opening the engine a command runs on: Ray (embedded or joined), replicas, the pool.

This is the one place the top floor assembles the lower ones; commands call
:func:`open_engine` and get an :class:`~actors.engine.Engine` that is shut
down, with its replicas and any embedded Ray, when the block ends.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Engine

if TYPE_CHECKING:
    from actors.config import EngineConfig

FIRST_COMPILE_MINUTES = 4
"""A first compiled start here: kernel compilation (the warm-up) took 3.7 minutes on 2 cores."""


class EngineOptions(BaseModel):
    """Where and what to run, as the command line states it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = Field(None, description="Registry name, HF model directory or .gguf file; default model if unset.")
    address: str | None = Field(None, description="Ray cluster to join; an embedded local Ray if unset.")
    replicas: int | None = Field(None, ge=1, description="Engine replicas; one per node (GPU: per GPU group) if unset.")
    max_model_len: int = Field(4096, ge=256, description="Longest prompt + answer in tokens.")
    kv_cache_gib: float = Field(1.0, gt=0, description="KV cache per replica (CPU engines), GiB.")
    compiled: bool = Field(False, description="torch.compile the model on CPU too (CPU engines run eager otherwise).")

    @property
    def model_name(self) -> str:
        """The model to load: the one asked for, else the registry's default."""
        from actors.models import DEFAULT_MODEL

        return self.model or DEFAULT_MODEL

    def engine_config(self) -> EngineConfig:
        """The replica's engine as these options state it."""
        from actors.config import EngineConfig

        return EngineConfig(model=self.model_name, max_model_len=self.max_model_len, kv_cache_gib=self.kv_cache_gib,
                            enforce_eager=False if self.compiled else None)


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that runs a model shares."""
    from orchestrator.cli.args import context_tokens, kv_cache_gib, positive_int

    group = parser.add_argument_group("engine")
    group.add_argument("--model", help="registry name (see 'forkjoin models list'), HF directory or .gguf file")
    group.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="Ray cluster to join (default: embedded)")
    group.add_argument("--replicas", type=positive_int, help="engine replicas (default: one per node)")
    group.add_argument("--max-model-len", type=context_tokens, default=4096, help="context length in tokens (default 4096)")
    group.add_argument("--kv-cache-gib", type=kv_cache_gib, default=1.0, help="KV cache per CPU replica in GiB (default 1)")
    group.add_argument("--compiled", action="store_true",
                       help="torch.compile the model on CPU (default eager: starts about a minute sooner)")


def options_from_args(args: argparse.Namespace) -> EngineOptions:
    return EngineOptions(
        model=args.model,
        address=args.address,
        replicas=args.replicas,
        max_model_len=args.max_model_len,
        kv_cache_gib=args.kv_cache_gib,
        compiled=args.compiled,
    )


@asynccontextmanager
async def open_engine(options: EngineOptions) -> AsyncIterator[Engine]:
    """Connect to Ray, start the vLLM replicas, yield the pool; tear all of it down at exit.

    On an embedded cluster the model is resolved first, so a missing model is
    a one-line error before Ray starts. On a joined cluster the workers
    resolve it, since the model may live only on their disks. Each wait shows
    on stderr what it is (:mod:`orchestrator.progress`).
    """
    from actors.models import resolve_model
    from actors.pool import PoolConfig, ReplicaPool, fitting_replicas
    from actors.replica import VllmSpec
    from cluster import Accelerator, ClusterError, connect, resolve_address
    from orchestrator.progress import current_progress

    embedded = resolve_address(options.address) is None
    if embedded:
        resolve_model(options.model_name)
    progress = current_progress()
    with ExitStack() as stack:
        with progress.status("starting Ray" if embedded else f"joining Ray at {options.address}"):
            cluster = stack.enter_context(connect(options.address))
        engine = options.engine_config()
        accelerator = Accelerator.GPU if cluster.gpus else Accelerator.CPU
        spec = VllmSpec(engine=engine, accelerator=accelerator)
        replicas = options.replicas or fitting_replicas(spec)
        if replicas < 1:
            raise ClusterError(f"no node of the cluster at {cluster.address} has room for a {accelerator} replica")
        with progress.status(start_message(engine, replicas, embedded=embedded)):
            pool = await ReplicaPool.start(PoolConfig(spec=spec, replicas=replicas, name="run"))
        async with pool:
            yield pool


def start_message(engine: EngineConfig, replicas: int, *, embedded: bool) -> str:
    """What an engine start is doing, and how long a first start on this machine takes."""
    what = f"starting {replicas} vLLM replica{'s' if replicas > 1 else ''} of {engine.model}"
    from actors.vllm_engine import eager, one_process

    processes = "two" if one_process(engine) else "three"
    what += f" ({processes} processes each import vLLM, then the weights load)"
    if embedded and not eager(engine, is_cpu=True) and not has_compile_cache():
        what += (f"; the first start on this machine compiles kernels, about {FIRST_COMPILE_MINUTES} minutes;"
                 " later starts reuse the cache")
    return what


def has_compile_cache() -> bool:
    """True when the kernel cache on this machine holds compiled kernels (an embedded replica uses it)."""
    from actors.vllm_engine import kernel_cache_dir

    root = Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR") or kernel_cache_dir())
    return root.is_dir() and any(root.iterdir())
