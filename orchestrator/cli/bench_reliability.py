"""``forkjoin bench load``, ``bench chaos`` and ``bench soak``: many graphs, faults on purpose, parsers under noise.

``bench load`` and ``bench chaos`` start an embedded Ray (or join
``--address``) and run :mod:`orchestrator.reliability`; the chaos cell
``node-loss`` starts a simulated 3-node cluster of its own instead, and
``engine-kill`` starts one vLLM replica of ``--model``. ``bench soak`` needs
no Ray (hypothesis, the dev extra). Each prints figures, or one JSON object
with ``--json``. Registered by ``orchestrator.cli.bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

from orchestrator.cli.args import float_range, int_range

SOAK_EXAMPLES = 100_000
SCRIPTED_FAULTS = ("replica-kill", "slow-replica", "node-loss")
ALL_FAULTS = ("replica-kill", "engine-kill", "slow-replica", "node-loss")


def add_bench_parsers(kinds: argparse._SubParsersAction) -> None:
    load = kinds.add_parser("load", help="N graphs of 8 nodes at once on scripted replicas in Ray actors: all "
                            "complete, driver peak RSS")
    load.add_argument("--graphs", type=int_range(10, 1_000_000), default=1000, help="graphs (default 1000)")
    load.add_argument("--max-concurrency", type=int_range(1, 4096), default=64, help="requests in flight (default 64)")
    load.add_argument("--words", type=int_range(1, 4096), default=12, help="tokens per answer (default 12)")
    load.add_argument("--token-delay", type=float_range(0, 1), default=0.0, help="seconds per token (default 0)")
    _add_cluster_arguments(load)
    load.set_defaults(handler=load_command)
    chaos = kinds.add_parser("chaos", help="inject faults under a batch of graphs: in flight, completed, retried, "
                             "lost, duplicated, time to recover")
    chaos.add_argument("--fault", action="append", choices=ALL_FAULTS,
                       help=f"a fault to inject, repeatable (default: {', '.join(SCRIPTED_FAULTS)}; engine-kill "
                       "starts a real vLLM replica)")
    chaos.add_argument("--graphs", type=int_range(1, 10_000), default=24,
                       help="graphs of 5 generate nodes, or rows for node-loss (default 24)")
    chaos.add_argument("--model", default="smollm2-135m-instruct", help="engine-kill: the vLLM replica's model "
                       "(default smollm2-135m-instruct)")
    _add_cluster_arguments(chaos)
    chaos.set_defaults(handler=chaos_command)
    soak = kinds.add_parser("soak", help="100,000 generated inputs through the PASTA parser, the prompt compiler and "
                            "graph JSON: only typed errors, each example bounded")
    soak.add_argument("--examples", type=int_range(3, 10_000_000), default=SOAK_EXAMPLES,
                      help=f"inputs in all, split over the targets (default {SOAK_EXAMPLES:,})")
    soak.add_argument("--seed", type=int_range(0), help="hypothesis seed (default: random)")
    soak.add_argument("--bound", type=float_range(0.01, 600), default=2.0,
                      help="seconds one example may take (default 2)")
    soak.add_argument("--json", action="store_true", help="print one JSON object")
    soak.set_defaults(handler=soak_command)


def _add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every Ray benchmark here shares: its scripted replicas, the cluster, the output form."""
    parser.add_argument("--replicas", type=int_range(1, 64), default=2, help="scripted replicas (default 2)")
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="Ray cluster to join")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def load_command(args: argparse.Namespace) -> int:
    from cluster import connect
    from orchestrator.progress import current_progress
    from orchestrator.reliability import LoadConfig, bench_load
    from orchestrator.reliability.load import format_report

    config = LoadConfig(graphs=args.graphs, replicas=args.replicas, max_concurrency=args.max_concurrency,
                        words=args.words, token_delay_s=args.token_delay)
    with current_progress().status(f"bench load: {config.graphs // 10} then {config.graphs} graphs"):
        with connect(args.address):
            report = asyncio.run(bench_load(config))
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0 if all(r.completed == r.graphs for r in report.rounds) else 1


def chaos_command(args: argparse.Namespace) -> int:
    from orchestrator.progress import current_progress
    from orchestrator.reliability import ChaosConfig, format_report

    config = ChaosConfig(graphs=args.graphs, replicas=args.replicas, model=args.model)
    faults = list(dict.fromkeys(args.fault or SCRIPTED_FAULTS))
    if "engine-kill" in faults:
        from actors.models import resolve_model

        resolve_model(config.model)  # a missing model is one line before Ray starts (ModelError)
    reports = []
    for fault in sorted(faults, key=lambda f: f != "node-loss"):  # the simulated cluster needs Ray not yet started
        with current_progress().status(f"bench chaos: {fault} under {config.graphs} graphs"):
            reports.append(_run_cell(fault, config, args.address))
        if not args.json:
            print(format_report(reports[-1]), flush=True)
    if args.json:
        print(json.dumps({"chaos": [r.model_dump() for r in reports]}, indent=2))
    return 0 if all(r.lost == r.duplicated == 0 for r in reports) else 1


def _run_cell(fault: str, config, address: str | None):
    from cluster import SimulatedClusterConfig, connect, simulated_cluster
    from orchestrator import reliability
    from orchestrator.reliability.node_loss import NODES

    match fault:
        case "node-loss":
            shape = SimulatedClusterConfig(nodes=NODES, cpus_per_node=2, gpus_per_node=1)
            with simulated_cluster(shape), tempfile.TemporaryDirectory(prefix="fj-chaos-") as work:
                return reliability.lose_node_mid_batch(config, Path(work))
        case "engine-kill":
            with connect(address):
                return asyncio.run(_engine_kill(config))
        case "slow-replica":
            with connect(address):
                return asyncio.run(reliability.slow_replica_mid_batch(config))
        case _:
            with connect(address):
                return asyncio.run(reliability.kill_replica_mid_stream(config))


async def _engine_kill(config):
    from actors import PoolConfig, ReplicaPool, VllmSpec
    from actors.config import EngineConfig
    from orchestrator.reliability import kill_engine_core_mid_stream

    engine = EngineConfig(model=config.model, max_model_len=2048, kv_cache_gib=0.5, max_num_seqs=8, enforce_eager=True)
    pool_config = PoolConfig(spec=VllmSpec(engine=engine), replicas=1, name="engine-kill", first_chunk_timeout_s=300)
    async with await ReplicaPool.start(pool_config) as pool:
        return await kill_engine_core_mid_stream(config, pool.replicas[0], pool_config)


def soak_command(args: argparse.Namespace) -> int:
    from orchestrator.progress import current_progress
    from orchestrator.reliability import TARGETS, soak

    share = -(-args.examples // len(TARGETS))
    reports = []
    for target in TARGETS:
        with current_progress().status(f"bench soak: {share:,} inputs through {target}"):
            reports.append(r := soak(target, share, seed=args.seed, bound_s=args.bound))
        if not args.json:  # each target's line as it ends: a long soak cut short still says what it did
            print(f"{r.target}: {r.examples:,} inputs, {r.typed_errors:,} typed errors, nothing else; "
                  f"{r.seconds:.0f} s ({r.examples / max(r.seconds, 1e-9):.0f}/s), slowest {r.slowest_s * 1000:.0f} ms",
                  flush=True)
    if args.json:
        print(json.dumps({"soak": [r.model_dump() for r in reports]}, indent=2))
    else:
        print(f"total: {sum(r.examples for r in reports):,} inputs in {sum(r.seconds for r in reports):.0f} s")
    return 0
