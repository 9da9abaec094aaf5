"""``forkjoin bench engine``: one replica's throughput and Ray's per-call cost.

Starts (or joins) Ray, starts ONE vLLM replica of the model, measures it with
:func:`orchestrator.bench.bench_engine` and prints a table or, with
``--json``, one JSON object. A hidden ``--scripted`` swaps in a scripted
replica (no model) to develop and test the command itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from actors import PoolConfig, ReplicaPool, ScriptedSpec, VllmSpec
from actors.config import EngineConfig
from cluster import Accelerator, ClusterInfo, connect
from orchestrator.bench import BenchConfig, EngineBench, bench_engine
from orchestrator.cli.args import int_list, int_range, kv_cache_gib
from orchestrator.cli.pasta import add_bench_parser as add_pasta_bench


def register(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="measure engines")
    kinds = bench.add_subparsers(dest="bench_kind", metavar="KIND")
    kinds.required = True
    engine = kinds.add_parser("engine", help="one replica: tokens/s by concurrent streams, Ray dispatch overhead")
    engine.add_argument("--model", help="registry name, HF directory or .gguf (default: the default model)")
    engine.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="Ray cluster to join")
    engine.add_argument(
        "--streams", type=int_list, default="1,2,4,8,16", help="concurrent streams to measure (default 1,2,4,8,16)"
    )
    engine.add_argument("--max-tokens", type=int_range(1, 4096), default=128, help="tokens per stream (default 128)")
    engine.add_argument("--samples", type=int_range(2, 10000), default=50, help="1-token calls for the overhead (default 50)")
    engine.add_argument("--kv-cache-gib", type=kv_cache_gib, default=1.0, help="KV cache of the replica, GiB (default 1)")
    engine.add_argument("--max-model-len", type=int_range(128, 131072), default=2048, help="context length (default 2048)")
    engine.add_argument("--json", action="store_true", help="print one JSON object")
    engine.add_argument("--scripted", action="store_true", help=argparse.SUPPRESS)
    engine.set_defaults(handler=bench_engine_command)
    add_pasta_bench(kinds, name="pasta")


def bench_engine_command(args: argparse.Namespace) -> int:
    config = BenchConfig(
        streams=args.streams,
        max_tokens=args.max_tokens,
        samples=args.samples,
    )
    with connect(args.address) as info:
        result = asyncio.run(_measure(args, config, info))
    print(result.model_dump_json(indent=2) if args.json else _table(result))
    return 0


async def _measure(args: argparse.Namespace, config: BenchConfig, info: ClusterInfo) -> EngineBench:
    pool_config = PoolConfig(spec=_spec(args, config, info), replicas=1, name="bench")
    async with await ReplicaPool.start(pool_config) as pool:
        label = "scripted" if args.scripted else pool_config.spec.engine.model
        return await bench_engine(pool, config, engine=label)


def _spec(args: argparse.Namespace, config: BenchConfig, info: ClusterInfo) -> ScriptedSpec | VllmSpec:
    if args.scripted:
        return ScriptedSpec(answers={"Count": " ".join(str(i) for i in range(4, 2000))}, token_delay_s=0.005)
    fields = {"kv_cache_gib": args.kv_cache_gib, "max_model_len": args.max_model_len,
              "max_num_seqs": max(*config.streams, EngineConfig().max_num_seqs)}
    if args.model:
        fields["model"] = args.model
    accelerator = Accelerator.GPU if info.gpus else Accelerator.CPU
    return VllmSpec(engine=EngineConfig(**fields), accelerator=accelerator)


def _table(result: EngineBench) -> str:
    lines = [
        f"engine   {result.engine} on {result.replica} (started in {result.engine_start_s:.1f} s)",
        f"single   {result.single_tok_s:8.1f} tok/s  ({result.max_tokens} tokens per stream)",
    ]
    lines += [f"{n:>3} streams {v:8.1f} tok/s aggregate" for n, v in result.aggregate_tok_s.items()]
    overhead = result.dispatch_overhead_ms
    lines.append(f"dispatch overhead through Ray: p50 {overhead.p50:.2f} ms, p99 {overhead.p99:.2f} ms")
    return "\n".join(lines)
