"""``forkjoin bench load``, ``bench chaos`` and ``bench soak``: many graphs, a killed replica, parsers under noise.

``bench load`` and ``bench chaos`` start an embedded Ray (or join
``--address``) and run :mod:`orchestrator.load_bench` and
:mod:`orchestrator.chaos`; ``bench soak`` needs no Ray and runs
:mod:`orchestrator.soak` (hypothesis, the dev extra). Both print figures, or
one JSON object with ``--json``. Registered by ``orchestrator.cli.bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

from orchestrator.cli.args import float_range, int_range

SOAK_EXAMPLES = 100_000


def add_bench_parsers(kinds: argparse._SubParsersAction) -> None:
    load = kinds.add_parser("load", help="N graphs of 8 nodes at once on scripted replicas in Ray actors: all complete, "
                            "driver peak RSS")
    load.add_argument("--graphs", type=int_range(10, 1_000_000), default=1000, help="graphs (default 1000)")
    load.add_argument("--replicas", type=int_range(1, 64), default=2, help="scripted replicas (default 2)")
    load.add_argument("--max-concurrency", type=int_range(1, 4096), default=64, help="requests in flight (default 64)")
    load.add_argument("--words", type=int_range(1, 4096), default=12, help="tokens per answer (default 12)")
    load.add_argument("--token-delay", type=float_range(0, 1), default=0.0, help="seconds per token (default 0)")
    load.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="Ray cluster to join")
    load.add_argument("--json", action="store_true", help="print one JSON object")
    load.set_defaults(handler=load_command)
    chaos = kinds.add_parser("chaos", help="kill a scripted replica mid-stream under a batch of graphs: in flight, "
                             "completed, retried, lost, duplicated, time to recover")
    chaos.add_argument("--graphs", type=int_range(1, 10_000), default=24, help="graphs of 5 generate nodes (default 24)")
    chaos.add_argument("--replicas", type=int_range(1, 64), default=2, help="scripted replicas (default 2)")
    chaos.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="Ray cluster to join")
    chaos.add_argument("--json", action="store_true", help="print one JSON object")
    chaos.set_defaults(handler=chaos_command)
    soak = kinds.add_parser("soak", help="100,000 generated inputs through the PASTA parser, the prompt compiler and "
                            "graph JSON: only typed errors, each example bounded")
    soak.add_argument("--examples", type=int_range(3, 10_000_000), default=SOAK_EXAMPLES,
                      help=f"inputs in all, split over the targets (default {SOAK_EXAMPLES:,})")
    soak.add_argument("--seed", type=int_range(0), help="hypothesis seed (default: random)")
    soak.add_argument("--bound", type=float_range(0.01, 600), default=2.0, help="seconds one example may take (default 2)")
    soak.add_argument("--json", action="store_true", help="print one JSON object")
    soak.set_defaults(handler=soak_command)


def load_command(args: argparse.Namespace) -> int:
    from cluster import connect
    from orchestrator.load_bench import LoadConfig, bench_load, format_report
    from orchestrator.progress import current_progress

    config = LoadConfig(graphs=args.graphs, replicas=args.replicas, max_concurrency=args.max_concurrency,
                        words=args.words, token_delay_s=args.token_delay)
    with current_progress().status(f"bench load: {config.graphs // 10} then {config.graphs} graphs"):
        with connect(args.address):
            report = asyncio.run(bench_load(config))
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0 if all(r.completed == r.graphs for r in report.rounds) else 1


def chaos_command(args: argparse.Namespace) -> int:
    from cluster import connect
    from orchestrator.chaos import ChaosConfig, format_report, kill_replica_mid_stream
    from orchestrator.progress import current_progress

    config = ChaosConfig(graphs=args.graphs, replicas=args.replicas)
    with current_progress().status(f"bench chaos: {config.graphs} graphs, one of {config.replicas} replicas killed"):
        with connect(args.address):
            report = asyncio.run(kill_replica_mid_stream(config))
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0 if report.lost == report.duplicated == 0 else 1


def soak_command(args: argparse.Namespace) -> int:
    from orchestrator.progress import current_progress
    from orchestrator.soak import TARGETS, soak

    share = -(-args.examples // len(TARGETS))
    reports = []
    for target in TARGETS:
        with current_progress().status(f"bench soak: {share:,} inputs through {target}"):
            reports.append(soak(target, share, seed=args.seed, bound_s=args.bound))
    if args.json:
        print(json.dumps({"soak": [r.model_dump() for r in reports]}, indent=2))
    else:
        for r in reports:
            print(f"{r.target}: {r.examples:,} inputs, {r.typed_errors:,} typed errors, nothing else; "
                  f"{r.seconds:.0f} s, slowest {r.slowest_s * 1000:.0f} ms")
        print(f"total: {sum(r.examples for r in reports):,} inputs")
    return 0
