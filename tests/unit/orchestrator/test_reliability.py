"""The reliability benchmarks' pure parts: the shared workload, the chaos report, the process probes (no Ray)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.cli.bench_reliability import ALL_FAULTS, SCRIPTED_FAULTS
from orchestrator.reliability import ChaosReport, Fault, format_report
from orchestrator.reliability.chaos import Arrival
from orchestrator.reliability.engine_kill import EngineCoreMissing, engine_core_pid, standby_part_ok
from orchestrator.reliability.node_loss import corpus, raylet_of
from orchestrator.reliability.slow_replica import throttle
from orchestrator.reliability.workload import fan_in_graph, graph_stream, scripted_answer


def test_the_fan_in_graph_is_a_scope_of_items_and_a_summary() -> None:
    graph = fan_in_graph(7, members=3, label="Chaos graph", max_tokens=32, timeout_s=1.5)
    generates = [graph.node(name) for name in ("item0", "item1", "item2", "summary")]
    assert len(list(graph.nodes())) == 5
    assert generates[0].prompt == "Chaos graph 7, item 0: one line."
    assert {(n.params.max_tokens, n.timeout_s) for n in generates} == {(32, 1.5)}
    assert fan_in_graph(0, members=1).node("item0").timeout_s is None  # the runtime's default


def test_the_graph_stream_is_lazy_and_counted() -> None:
    stream = graph_stream(3, members=2)
    assert next(stream).node("item0").prompt == "Graph 0, item 0: one line."
    assert len(list(stream)) == 2


def test_every_fault_has_a_command_line_name() -> None:
    assert ALL_FAULTS == tuple(f.value for f in Fault) and set(SCRIPTED_FAULTS) < set(ALL_FAULTS)


def test_the_report_line_names_every_figure() -> None:
    report = ChaosReport(fault="slow-replica", in_flight=4, requests=80, completed=9, retried=0, lost=0, duplicated=0,
                         recover_s=0.98, wall_s=6.04, timed_out=12, timeout_late_s=0.03, victim_share=0.21)
    assert format_report(report) == (
        "slow-replica: in flight 4, requests 80, completed 9, retried 0, lost 0, duplicated 0, time to recover "
        "0.98 s, timed out 12 (at most 0.03 s late), victim's share after the fault 21%, wall 6.0 s")


def test_the_standby_must_continue_with_the_tokens_left() -> None:
    answer = scripted_answer(16)
    engine = [Arrival(0.0, "vllm", "The tide", 2)]
    assert standby_part_ok(engine + [Arrival(1.0, "standby", answer, 16)], "vllm", answer)
    assert standby_part_ok(engine, "vllm", answer)  # never failed over
    assert not standby_part_ok(engine + [Arrival(1.0, "standby", answer + " w0", 17)], "vllm", answer)
    long_engine = [Arrival(0.0, "vllm", "x " * 40, 40)]  # 8 of MAX_TOKENS=48 left: the answer is cut to 8 words
    assert standby_part_ok(long_engine + [Arrival(1.0, "standby", " ".join(answer.split()[:8]), 8)], "vllm", answer)
    assert not standby_part_ok(long_engine + [Arrival(1.0, "standby", answer, 16)], "vllm", answer)


@pytest.fixture
def child() -> subprocess.Popen:
    """A child process of this test whose command line says EngineCore."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "EngineCore"])
    yield process
    process.kill()
    process.wait()


def test_the_engine_core_is_found_among_the_actors_children(child: subprocess.Popen) -> None:
    assert engine_core_pid(os.getpid()) == child.pid
    with pytest.raises(EngineCoreMissing, match=rf"^replica process {child.pid} has no EngineCore child on this machine after 0.5 s; children seen: none"):
        engine_core_pid(child.pid, wait_s=0.5)


def test_an_engine_core_that_kept_the_spawn_command_is_found() -> None:
    child = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(30,))
    child.start()
    try:
        assert engine_core_pid(os.getpid(), wait_s=5) == child.pid  # not the resource tracker beside it
    finally:
        child.kill()
        child.join()


def test_a_throttled_process_is_left_running(child: subprocess.Popen) -> None:
    async def throttle_briefly() -> None:
        task = asyncio.create_task(throttle(child.pid, 0.1, period_s=0.02))
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(throttle_briefly())
    time.sleep(0.05)
    state = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert state == "S"  # sleeping, not stopped ("T")


def test_a_worker_whose_parent_is_not_a_raylet_is_refused(child: subprocess.Popen) -> None:
    with pytest.raises(RuntimeError, match=rf"^the parent {os.getpid()} of worker {child.pid} is not a raylet"):
        raylet_of(child.pid)


def test_the_corpus_has_list_rows_every_third(tmp_path: Path) -> None:
    lines = corpus(tmp_path / "in.jsonl", 4).read_text().splitlines()
    assert len(lines) == 4 and '"id": "r0"' in lines[0] and "colors" in lines[0] and "colors" not in lines[1]
