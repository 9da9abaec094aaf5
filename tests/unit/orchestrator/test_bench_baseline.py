"""bench engine --baseline: the sweep in turn, the ratios and the single-stream limit (no engine)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence

import pytest

from actors.baseline import Run
from actors.proc_cpu import DRIVER, CpuWindow
from orchestrator.baseline import BaselineResult, compare_with_baseline
from orchestrator.bench import Curve, EngineBench, Percentiles, sweep


def forkjoin(single: float, eight: float, ttft_ms: float, serial_s: float) -> EngineBench:
    return EngineBench(
        engine="m", replica="bench-1", engine_start_s=100.0, max_tokens=64, single_tok_s=single, ttft_ms=ttft_ms,
        aggregate_tok_s={"1": single, "8": eight}, prefill_tok_s=90.0,
        dispatch_overhead_ms=Percentiles(p50=3.0, p99=7.0), serial_s=serial_s, serial_tokens=64,
    )


def baseline(single: float, eight: float, ttft_ms: float, serial_s: float) -> BaselineResult:
    curve = Curve(engine_start_s=90.0, single_tok_s=single, ttft_ms=ttft_ms, aggregate_tok_s={"1": single, "8": eight},
                  serial_s=serial_s, serial_tokens=64)
    return BaselineResult(curve=curve, memory_bandwidth_gb_s=20.0, weight_bytes=2_000_000_000, dtype="float32")


def test_ratios_limit_and_fraction() -> None:
    report = compare_with_baseline(baseline(5.0, 24.0, 400.0, 13.0), forkjoin(4.75, 22.8, 430.0, 13.65))
    assert (report.ratio_single, report.ratio_aggregate_8) == (0.95, 0.95)
    assert (report.ttft_delta_ms, report.serial_ratio) == (30.0, 1.05)
    assert report.single_stream_limit_tok_s == 10.0  # 20 GB/s over 2 GB per step
    assert report.baseline_fraction_of_limit == 0.5
    assert report.baseline.single_tok_s == 5.0 and report.forkjoin.single_tok_s == 4.75
    assert set(report.model_dump()) >= {"baseline", "forkjoin", "ratio_single", "ratio_aggregate_8"}


def test_a_curve_without_eight_streams_has_no_eight_stream_ratio() -> None:
    base = baseline(5.0, 24.0, 400.0, 13.0)
    base = base.model_copy(update={"curve": base.curve.model_copy(update={"aggregate_tok_s": {"1": 5.0}})})
    assert compare_with_baseline(base, forkjoin(5.0, 20.0, 400.0, 13.0)).ratio_aggregate_8 is None


def test_engine_bench_curve_is_the_baseline_curve_shape() -> None:
    mine = forkjoin(4.0, 20.0, 500.0, 12.0).curve()
    assert isinstance(mine, Curve) and mine.single_tok_s == 4.0
    with pytest.raises(ValueError):
        Curve(engine_start_s=1.0)


class FakeSide:
    """A side whose runs take what ``seconds`` says; it records every call in ``events``."""

    def __init__(self, name: str, events: list, seconds=lambda call: 0.01) -> None:
        self.name, self.events, self.seconds, self.calls = name, events, seconds, 0

    async def run(self, indices: Sequence[int]) -> list[Run]:
        self.events.append((self.name, tuple(indices)))
        self.calls += 1
        elapsed = self.seconds(self.calls)
        await asyncio.sleep(0)
        return [(10, elapsed / 5, elapsed) for _ in indices]

    async def serial(self) -> tuple[float, int]:
        self.events.append((self.name, "serial"))
        self.calls += 1
        return self.seconds(self.calls), 10

    def cpu_window(self) -> CpuWindow:
        return CpuWindow()


def test_sweep_keeps_each_points_best_round_and_the_median_ttft() -> None:
    runs_per_round = 2 + 2  # two singles, then the 1- and 4-stream points
    slow_first_round = FakeSide("a", [], seconds=lambda call: 0.02 if call <= runs_per_round else 0.01)
    (swept,) = asyncio.run(sweep([slow_first_round], singles=2, rounds=3, streams=(1, 4)))
    assert swept["single_tok_s"] == 1000.0  # 10 tokens in 0.01 s: a slow round never sets the best
    assert swept["ttft_ms"] == 2.0  # median of 6 single runs, 2 of them slow
    assert swept["aggregate_tok_s"] == {"1": 1000.0, "4": 4000.0}  # all tokens over the slowest stream's time
    assert swept["round_single_tok_s"] == [500.0, 1000.0, 1000.0]
    assert swept["round_aggregate_8_tok_s"] == [] and swept["cpu_share"] == {}  # no 8-stream point


def test_sweep_runs_every_point_on_each_side_in_turn_the_order_reversed_each_round() -> None:
    events: list = []

    async def probe() -> None:
        events.append("probe")

    sides = [FakeSide("a", events), FakeSide("b", events, seconds=lambda call: 0.02)]
    a, b = asyncio.run(sweep(sides, singles=2, rounds=2, streams=(1, 8), before_round=probe))
    forward = [("a", (0,)), ("b", (0,)), ("a", (1,)), ("b", (1,)), ("a", (0,)), ("b", (0,)),
               ("a", tuple(range(8))), ("b", tuple(range(8)))]
    backward = [(side, indices) for pair in zip(forward[1::2], forward[::2]) for side, indices in pair]
    assert events == ["probe", *forward, "probe", *backward]
    assert a["round_single_tok_s"] == [1000.0, 1000.0] and b["round_single_tok_s"] == [500.0, 500.0]
    assert a["round_aggregate_8_tok_s"] == [8000.0, 8000.0] and b["round_aggregate_8_tok_s"] == [4000.0, 4000.0]


def test_round_ratios_are_the_median_of_each_rounds_pair() -> None:
    from orchestrator.baseline import median_ratio

    plain = baseline(5.0, 24.0, 400.0, 13.0)
    plain = plain.model_copy(update={"curve": plain.curve.model_copy(
        update={"round_single_tok_s": [5.0, 4.0, 2.0], "round_aggregate_8_tok_s": [24.0, 20.0, 10.0]})})
    mine = forkjoin(4.0, 24.0, 400.0, 13.0).model_copy(
        update={"round_single_tok_s": [4.0, 4.0, 2.2], "round_aggregate_8_tok_s": [12.0, 19.0, 10.0]})
    report = compare_with_baseline(plain, mine)
    assert report.ratio_single == 0.8  # best over best: 4 / 5
    assert report.round_ratio_single == 1.0  # rounds 0.8, 1.0, 1.1: a slow round on both sides pairs with itself
    assert report.round_ratio_aggregate_8 == 0.95  # 0.5, 0.95, 1.0
    assert median_ratio([1.0], [1.0, 2.0]) is None and median_ratio([], []) is None
    assert compare_with_baseline(baseline(5, 24, 400, 13), forkjoin(5, 24, 400, 13)).round_ratio_single is None


def test_passes_take_each_sides_best_figures_and_keep_each_pairs_ratios() -> None:
    from orchestrator.baseline import best_of, compare_passes

    slow_machine = (baseline(4.0, 20.0, 450.0, 15.0), forkjoin(3.8, 18.0, 460.0, 15.5))
    fast_machine = (baseline(5.0, 24.0, 400.0, 13.0), forkjoin(5.0, 23.0, 410.0, 13.0))
    report = compare_passes([slow_machine, fast_machine])
    assert report.baseline.single_tok_s == 5.0 and report.forkjoin.aggregate_tok_s["8"] == 23.0
    assert report.baseline.ttft_ms == 400.0 and report.forkjoin.serial_s == 13.0
    assert (report.ratio_single, report.ratio_aggregate_8) == (1.0, round(23.0 / 24.0, 3))
    assert [p.ratio_single for p in report.passes] == [0.95, 1.0]
    assert [p.baseline_single_tok_s for p in report.passes] == [4.0, 5.0]
    assert [p.baseline_fraction_of_limit for p in report.passes] == [0.4, 0.5]  # each over its own 10 tok/s limit
    assert compare_passes([fast_machine]).passes == []  # one pass: its own figures, nothing paired to list
    merged = best_of([slow_machine[1], fast_machine[1]])
    assert isinstance(merged, EngineBench) and merged.single_tok_s == 5.0 and merged.replica == "bench-1"


def test_passes_without_a_baseline_is_one_line_before_any_engine(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from orchestrator.cli import UsageError, bench

    parser = argparse.ArgumentParser()
    bench.register(parser.add_subparsers())
    args = parser.parse_args(["bench", "engine", "--scripted", "--passes", "2"])
    with pytest.raises(UsageError, match="--passes .* needs --baseline"):
        args.handler(args)


def test_passes_keep_the_cpu_of_the_pass_whose_eight_stream_rate_is_kept_and_the_report_prints_it() -> None:
    from orchestrator.baseline import compare_passes
    from orchestrator.cli.bench import _report

    slow = forkjoin(3.8, 18.0, 460.0, 15.5).model_copy(update={"cpu_share": {"engine": 150.0, "driver": 9.0}})
    fast = forkjoin(5.0, 23.0, 410.0, 13.0).model_copy(update={"cpu_share": {"engine": 190.0, "driver": 2.0}})
    plain = baseline(5.0, 24.0, 400.0, 13.0)
    plain = plain.model_copy(update={"curve": plain.curve.model_copy(update={"cpu_share": {"engine": 197.0}})})
    report = compare_passes([(plain, slow), (plain, fast)])
    assert report.forkjoin.cpu_share == {"engine": 190.0, "driver": 2.0}
    assert report.baseline.cpu_share == {"engine": 197.0}
    printed = _report(report)
    assert "forkjoin CPU during the 8-stream rounds, % of one core: engine 190.0, driver 2.0" in printed
    assert "plain vLLM CPU during the 8-stream rounds, % of one core: engine 197.0" in printed
    assert "pass 2: plain single 5.00 tok/s" in printed and "plain at 50% of this pass's limit" in printed


def test_round_fraction_is_the_median_of_each_rounds_own_limit_and_passes_merge_their_rounds() -> None:
    from orchestrator.baseline import RoundLimit, best_of, round_fraction

    plain = baseline(5.0, 24.0, 400.0, 13.0)  # 2 GB per decode step
    assert round_fraction(plain) is None
    assert compare_with_baseline(plain, forkjoin(5, 24, 400, 13)).baseline_fraction_of_round_limit is None
    fast_then_slow = [RoundLimit(bandwidth_gb_s=20.0, single_tok_s=5.0), RoundLimit(bandwidth_gb_s=10.0, single_tok_s=4.0),
                      RoundLimit(bandwidth_gb_s=40.0, single_tok_s=5.0)]
    paired = plain.model_copy(update={"rounds": fast_then_slow})
    assert round_fraction(paired) == 0.5  # limits 10, 5, 20 tok/s: fractions 0.5, 0.8, 0.25
    assert compare_with_baseline(paired, forkjoin(5, 24, 400, 13)).baseline_fraction_of_round_limit == 0.5
    merged = best_of([paired, plain.model_copy(update={"rounds": fast_then_slow[:1]})])
    assert len(merged.rounds) == 4


def test_the_bandwidth_probe_reads_its_buffer_at_a_positive_finite_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    import math

    from actors import baseline as module

    monkeypatch.setattr(module, "BANDWIDTH_BYTES", 1 << 22)  # 4 MiB: the unit suite stays light
    probe = module.BandwidthProbe()
    readings = [probe(), probe()]
    assert all(0 < gb_s and math.isfinite(gb_s) for gb_s in readings)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_sweep_reports_the_cpu_of_its_eight_stream_rounds_only() -> None:
    class BusyDriver:
        """A side whose every run keeps this process busy: its share is what the window sees."""

        async def run(self, indices):
            end = time.perf_counter() + 0.02
            while time.perf_counter() < end:
                pass
            return [(10, 0.001, 0.02) for _ in indices]

        def cpu_window(self) -> CpuWindow:
            return CpuWindow()

    (with_eight,) = asyncio.run(sweep([BusyDriver()], singles=1, rounds=2, streams=(1, 8)))
    assert with_eight["cpu_share"][DRIVER] > 50
    (without,) = asyncio.run(sweep([BusyDriver()], singles=1, rounds=1, streams=(1, 4)))
    assert without["cpu_share"] == {}
