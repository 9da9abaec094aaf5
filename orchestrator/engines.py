"""Opening the engine a command runs on: Ray (embedded or joined), replicas, the pool.

This is the one place the top floor assembles the lower ones; commands call
:func:`open_engine` and get an :class:`~actors.engine.Engine` that is shut
down, with its replicas and any embedded Ray, when the block ends.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Engine


class EngineOptions(BaseModel):
    """Where and what to run, as the command line states it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = Field(None, description="Registry name, HF model directory or .gguf file; default model if unset.")
    address: str | None = Field(None, description="Ray cluster to join; an embedded local Ray if unset.")
    replicas: int | None = Field(None, ge=1, description="Engine replicas; one per node (GPU: per GPU group) if unset.")
    max_model_len: int = Field(4096, ge=256, description="Longest prompt + answer in tokens.")
    kv_cache_gib: float = Field(1.0, gt=0, description="KV cache per replica (CPU engines), GiB.")

    @property
    def model_label(self) -> str:
        return self.model or "default"


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that runs a model shares."""
    group = parser.add_argument_group("engine")
    group.add_argument("--model", help="registry name (see 'forkjoin models list'), HF directory or .gguf file")
    group.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="Ray cluster to join (default: embedded)")
    group.add_argument("--replicas", type=int, help="engine replicas (default: one per node)")
    group.add_argument("--max-model-len", type=int, default=4096, help="context length in tokens (default 4096)")
    group.add_argument("--kv-cache-gib", type=float, default=1.0, help="KV cache per CPU replica in GiB (default 1)")


def options_from_args(args: argparse.Namespace) -> EngineOptions:
    return EngineOptions(
        model=args.model,
        address=args.address,
        replicas=args.replicas,
        max_model_len=args.max_model_len,
        kv_cache_gib=args.kv_cache_gib,
    )


@contextmanager
def open_engine(options: EngineOptions) -> Iterator[Engine]:
    """Connect to Ray, start the replicas, yield the pool; tear all of it down at exit."""
    from actors.models import resolve_model
    from actors.pool import ReplicaPool
    from cluster import connect

    model = resolve_model(options.model)
    with connect(options.address):
        pool = ReplicaPool.for_model(model, options)
        try:
            yield pool
        finally:
            pool.shutdown()
