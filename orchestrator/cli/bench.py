"""``forkjoin bench engine``: one replica's throughput and Ray's per-call cost, beside plain vLLM's.

Starts (or joins) Ray, starts ONE vLLM replica of the model, measures it with
:func:`orchestrator.bench.bench_engine`, stores the curve for the cost model
(:mod:`orchestrator.curves`) and prints a table or, with ``--json``, one JSON
object. ``--baseline`` also starts plain vLLM in a child process (same
model and settings, no Ray) before forkjoin's replica, measures the two in
turn (:mod:`orchestrator.baseline`) and prints both curves with their ratios. A
hidden ``--scripted`` swaps in a scripted replica (no model) to develop and
test the command itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
from datetime import datetime, timezone

from actors import PoolConfig, ReplicaPool, ScriptedSpec, VllmSpec
from actors.config import CpuGemm, EngineConfig
from actors.models import resolve_model
from cluster import Accelerator, ClusterInfo, connect
from graphs.cost import EngineCurve
from orchestrator.baseline import BaselineComparison, BaselineResult, PlainVllm, best_of, compare_passes, measure_pass
from orchestrator.bench import BenchConfig, EngineBench, bench_engine
from orchestrator.cli import UsageError
from orchestrator.cli.args import int_list, int_range, kv_cache_gib
from orchestrator.curves import write_curve
from orchestrator.progress import current_progress
from orchestrator.cli.pasta import add_bench_parser as add_pasta_bench
from orchestrator.cli.serve import add_bench_parser as add_serve_bench
from orchestrator.cli.bench_reliability import add_bench_parsers as add_reliability_benches
from orchestrator.cli.batch import add_bench_parser as add_batch_bench


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
    engine.add_argument(
        "--rounds", type=int_range(1, 100), default=3,
        help="rounds of the sweep, each point's best kept (default 3)",
    )
    engine.add_argument("--kv-cache-gib", type=kv_cache_gib, default=1.0, help="KV cache of the replica, GiB (default 1)")
    engine.add_argument("--compiled", action="store_true", help="torch.compile the model (default on CPU: eager)")
    engine.add_argument("--cpu-gemm", choices=[g.value for g in CpuGemm], default=EngineConfig().cpu_gemm.value,
                        help="CPU kernel of the dense layers, both sides (default sgl: where AMX serves it)")
    engine.add_argument("--max-model-len", type=int_range(128, 131072), default=2048, help="context length (default 2048)")
    engine.add_argument(
        "--baseline", action="store_true",
        help="also start plain vLLM (same model and settings, no Ray), measure both in turn, point by point, "
        "and print both curves and their ratios",
    )
    engine.add_argument(
        "--passes", type=int_range(1, 10), default=1,
        help="with --baseline: start both engines this many times (each figure's best pass, and each pass's "
        "ratios)",
    )
    engine.add_argument("--json", action="store_true", help="print one JSON object")
    engine.add_argument("--scripted", action="store_true", help=argparse.SUPPRESS)
    engine.set_defaults(handler=bench_engine_command)
    add_pasta_bench(kinds, name="pasta")
    add_serve_bench(kinds)
    add_reliability_benches(kinds)
    add_batch_bench(kinds)


def bench_engine_command(args: argparse.Namespace) -> int:
    config = BenchConfig(streams=args.streams, max_tokens=args.max_tokens, samples=args.samples, rounds=args.rounds)
    if args.baseline and args.scripted:
        raise UsageError("--baseline measures vLLM: it cannot be combined with --scripted")
    engine = _engine_config(args, config)
    if args.passes > 1 and not args.baseline:
        raise UsageError("--passes repeats the plain vLLM and forkjoin pair: it needs --baseline")
    if args.baseline:
        resolve_model(engine.model)  # an unprepared model is one line, before any engine starts
    progress = current_progress()
    label = "a scripted replica" if args.scripted else f"a replica of {engine.model}"
    passes: list[tuple[BaselineResult, EngineBench]] = []
    for number in range(1, args.passes + 1):
        of = f" (pass {number} of {args.passes})" if args.passes > 1 else ""
        if args.baseline:
            passes.append(asyncio.run(_measure_both(args, config, engine, of)))
        else:
            with progress.status(f"forkjoin: starting Ray and {label}, then measuring{of}"):
                with connect(args.address) as info:
                    result = asyncio.run(_measure(args, config, info, engine))
    if passes:
        result = best_of([mine for _, mine in passes])
    if not args.scripted:
        stored = write_curve(_curve(result))
        progress.note(f"engine curve stored in {stored}")
    report = compare_passes(passes) if passes else result
    print(report.model_dump_json(indent=2) if args.json else _report(report))
    return 0


async def _measure(args: argparse.Namespace, config: BenchConfig, info: ClusterInfo,
                   engine: EngineConfig) -> EngineBench:
    pool_config = PoolConfig(spec=_spec(args, info, engine), replicas=1, name="bench")
    async with await ReplicaPool.start(pool_config) as pool:
        label = "scripted" if args.scripted else engine.model
        return await bench_engine(pool, config, engine=label)


async def _measure_both(args: argparse.Namespace, config: BenchConfig, engine: EngineConfig,
                        of: str) -> tuple[BaselineResult, EngineBench]:
    """Plain vLLM up first (alone), then Ray and forkjoin's replica; then both measured in turn."""
    progress = current_progress()
    async with contextlib.AsyncExitStack() as stack:
        with progress.status(f"plain vLLM: starting {engine.model} (no Ray){of}"):
            plain = await stack.enter_async_context(PlainVllm.started(engine, config))
        with progress.status(f"forkjoin: starting Ray and a replica of {engine.model}{of}"):
            info = stack.enter_context(connect(args.address))
            pool_config = PoolConfig(spec=_spec(args, info, engine), replicas=1, name="bench")
            pool = await stack.enter_async_context(await ReplicaPool.start(pool_config))
        with progress.status(f"measuring plain vLLM and forkjoin in turn, point by point{of}"):
            return await measure_pass(pool, plain, config, engine=engine.model)


def _engine_config(args: argparse.Namespace, config: BenchConfig) -> EngineConfig:
    fields = {"kv_cache_gib": args.kv_cache_gib, "max_model_len": args.max_model_len,
              "max_num_seqs": max(*config.streams, EngineConfig().max_num_seqs)}
    if args.model:
        fields["model"] = args.model
    if args.compiled:
        fields["enforce_eager"] = False
    fields["cpu_gemm"] = CpuGemm(args.cpu_gemm)
    return EngineConfig(**fields)


def _spec(args: argparse.Namespace, info: ClusterInfo, engine: EngineConfig) -> ScriptedSpec | VllmSpec:
    if args.scripted:
        return ScriptedSpec(answers={"Count": " ".join(str(i) for i in range(4, 2000))}, token_delay_s=0.005)
    accelerator = Accelerator.GPU if info.gpus else Accelerator.CPU
    return VllmSpec(engine=engine, accelerator=accelerator)


def _curve(result: EngineBench) -> EngineCurve:
    streams = {int(n): rate for n, rate in result.aggregate_tok_s.items()}
    streams.setdefault(1, result.single_tok_s)
    return EngineCurve(
        model=result.engine, streams=streams, prefill_tok_s=result.prefill_tok_s,
        request_overhead_s=round(result.ttft_ms / 1000, 3),
        measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), machine=platform.node(),
    )


def _report(report: EngineBench | BaselineComparison) -> str:
    if isinstance(report, EngineBench):
        return _table(report)
    base, fj = report.baseline, report.forkjoin
    rows = [f"{'':22}{'plain vLLM':>12}{'forkjoin':>12}{'ratio':>8}",
            f"{'engine start (s)':22}{base.engine_start_s:12.1f}{fj.engine_start_s:12.1f}",
            f"{'single stream (tok/s)':22}{base.single_tok_s:12.2f}{fj.single_tok_s:12.2f}{report.ratio_single:8.3f}",
            f"{'first token (ms)':22}{base.ttft_ms:12.1f}{fj.ttft_ms:12.1f}"]
    for n, rate in base.aggregate_tok_s.items():
        mine = fj.aggregate_tok_s.get(n)
        ratio = f"{mine / rate:8.3f}" if mine else ""
        rows.append(f"{f'{n} streams (tok/s)':22}{rate:12.2f}{mine or float('nan'):12.2f}{ratio}")
    rows.append(f"{'serial prompt (s)':22}{base.serial_s:12.2f}{fj.serial_s:12.2f}{report.serial_ratio:8.3f}")
    if report.round_ratio_single is not None:
        rows.append(f"round by round (both measured in turn), median ratio: single {report.round_ratio_single:.3f}"
                    f"{_eight(report.round_ratio_aggregate_8)}")
    rows.append(
        f"{report.model} in {report.dtype}: one decode step reads {report.decode_bytes / 1e9:.2f} GB; memory "
        f"bandwidth {report.memory_bandwidth_gb_s:.1f} GB/s; single-stream limit "
        f"{report.single_stream_limit_tok_s:.1f} tok/s (plain vLLM reaches {report.baseline_fraction_of_limit:.0%})"
    )
    if report.baseline_fraction_of_round_limit is not None:
        rows.append(f"each round's single stream against the bandwidth read just before it: plain vLLM at "
                    f"{report.baseline_fraction_of_round_limit:.0%} of that limit (median of rounds)")
    for side, curve in (("plain vLLM", base), ("forkjoin", fj)):
        if curve.cpu_share:
            rows.append(f"{side} CPU during the 8-stream rounds, % of one core: {_shares(curve.cpu_share)}")
    for number, paired in enumerate(report.passes, 1):
        rounds = "" if paired.round_ratio_single is None else (
            f"; round by round: single {paired.round_ratio_single:.3f}{_eight(paired.round_ratio_aggregate_8)}")
        rows.append(f"pass {number}: plain single {paired.baseline_single_tok_s:.2f} tok/s; ratios single "
                    f"{paired.ratio_single:.3f}{_eight(paired.ratio_aggregate_8)}, serial {paired.serial_ratio:.3f}"
                    f"{rounds}; first token {paired.ttft_delta_ms:+.1f} ms; plain at "
                    f"{paired.baseline_fraction_of_limit:.0%} of this pass's limit")
    return "\n".join(rows)


def _eight(ratio: float | None) -> str:
    return "" if ratio is None else f", 8 streams {ratio:.3f}"


def _table(result: EngineBench) -> str:
    lines = [
        f"engine   {result.engine} on {result.replica} (started in {result.engine_start_s:.1f} s)",
        f"single   {result.single_tok_s:8.1f} tok/s  ({result.max_tokens} tokens per stream)",
    ]
    lines += [f"{n:>3} streams {v:8.1f} tok/s aggregate" for n, v in result.aggregate_tok_s.items()]
    overhead = result.dispatch_overhead_ms
    lines.append(f"dispatch overhead through Ray: p50 {overhead.p50:.2f} ms, p99 {overhead.p99:.2f} ms")
    if result.cpu_share:
        lines.append(f"CPU during the 8-stream rounds, % of one core: {_shares(result.cpu_share)}")
    return "\n".join(lines)


def _shares(shares: dict[str, float]) -> str:
    return ", ".join(f"{role} {share:.1f}" for role, share in shares.items())
