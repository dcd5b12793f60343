"""Backtest building blocks: trace reading and unit conversion, the baselines, the scoring."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from gitbot.backtest.baselines import MB, MIB, Oom, Sizing, current, krr_simple, ooms_under, vpa_like, weighted_percentile
from gitbot.backtest.score import episodes, score
from gitbot.backtest.trace import NotATrace, Trace, read_bitbrains, read_traces
from gitbot.errors import InputError
from gitbot.pricing.catalog import ResourceRates

TRACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
HEADER = ("Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\t"
          "Memory capacity provisioned [KB];\tMemory usage [KB];\tDisk read throughput [KB/s];\tDisk write throughput [KB/s];\t"
          "Network received throughput [KB/s];\tNetwork transmitted throughput [KB/s]\n")


def bitbrains(tmp_path: Path, rows: list[str], name: str = "vm1.csv.gz") -> Path:
    path = tmp_path / name
    with gzip.open(path, "wt") as out:
        out.write(HEADER + "".join(f"{r}\n" for r in rows))
    return path


def test_bitbrains_units_become_millicores_and_bytes(tmp_path: Path) -> None:
    # 4 cores of 2600 MHz: 1300 MHz used is half a core; the rows come out of order on purpose
    path = bitbrains(tmp_path, [
        "1372630104;\t4;\t10400.0;\t2600.0;\t25.0;\t4194304.0;\t1048576.0;\t0;\t0;\t0;\t0",
        "1372629804;\t4;\t10400.0;\t1300.0;\t12.5;\t4194304.0;\t0.0;\t0;\t0;\t0;\t0",
        "1372630404;\t4;\t10400.0;\t10400.0;\t100.0;\t8388608.0;\t2097152.0;\t0;\t0;\t0;\t0",
    ])
    t = read_bitbrains(path)
    assert t.name == "vm1" and t.step_seconds == 300
    assert t.timestamps.tolist() == [1372629804, 1372630104, 1372630404]  # Unix seconds, despite "[ms]"
    assert t.cpu_m.tolist() == [500.0, 1000.0, 4000.0]
    assert t.memory_known.tolist() == [False, True, True]  # a 0 KB sample is missing, not idle
    assert t.memory_bytes.tolist() == [0.0, 2**30, 2**31]
    assert t.cpu_capacity_m.tolist() == [4000, 4000, 4000] and t.memory_capacity_bytes.tolist() == [4 * 2**30, 4 * 2**30, 8 * 2**30]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["1;\t4;\t1;\tx;\t0;\t1;\t1"], "vm1.csv.gz:2: not a number in '1;\\t4;\\t1;\\tx;\\t0;\\t1;\\t1'"),
        (["1;\t4;\t1;\t1;\t0;\t1;\t1", "2;\t0;\t1;\t1;\t0;\t1;\t1"], "vm1.csv.gz: CPU cores and provisioned MHz must be positive"),
        (["1;\t4;\t1;\t1;\t0;\t1;\t1"], "vm1.csv.gz: fewer than 2 samples"),
        (["1;\t4;\t1;\tnan;\t0;\t1;\t1", "2;\t4;\t1;\t1;\t0;\t1;\t1"], "vm1.csv.gz:2: expected 7 finite numbers, got '1;\\t4;\\t1;\\tnan;\\t0;\\t1;\\t1'"),
    ],
)
def test_bad_bitbrains_rows_name_the_line(tmp_path: Path, rows: list[str], message: str) -> None:
    path = bitbrains(tmp_path, rows)
    with pytest.raises(InputError) as info:
        read_bitbrains(path)
    assert str(info.value) == f"{tmp_path}/{message}"


def test_a_file_that_is_not_bitbrains_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("container_id,timestamp\n")
    with pytest.raises(InputError) as info:
        read_bitbrains(path)
    assert str(info.value).startswith(f"{path}:1: not a Bitbrains GWA-T-12 file")


@pytest.mark.skipif(not TRACES.is_dir(), reason="shared traces not found")
def test_the_shared_bitbrains_files_read_as_documented() -> None:
    # ../shared/data/README.md: vm286 has 8261 rows over 30 days at 300 s, 1 core, memory provisioned up to 3 GiB
    t = read_bitbrains(TRACES / "bitbrains_rnd_2013-7_vm286.csv.gz")
    assert (len(t), t.step_seconds, int(t.timestamps[-1] - t.timestamps[0]) // 86400) == (8261, 300, 29)
    assert set(t.cpu_capacity_m.tolist()) == {1000, 2000}  # re-provisioned during the month
    assert sorted(set(t.memory_capacity_bytes.tolist()))[-1] == 3145728 * 1024
    vm78 = read_bitbrains(TRACES / "bitbrains_rnd_2013-7_vm78.csv.gz")
    assert round(float(1 - vm78.memory_known.mean()), 2) == 0.47  # "Memory usage = 0 in 47% of rows"


def trace(cpu: list[float], memory: list[float], step: int = 300, start: int = 0) -> Trace:
    n = len(cpu)
    return Trace("t", np.arange(start, start + n * step, step, dtype=np.int64), np.array(cpu, dtype=float),
                 np.array(memory, dtype=float), np.array(memory, dtype=float) > 0,
                 np.full(n, 2000, dtype=np.int64), np.full(n, 4 * 2**30, dtype=np.int64), step)


def test_baselines() -> None:
    t = trace([float(v) for v in range(1, 101)], [100 * MIB] * 99 + [200 * MIB])
    assert current(t) == Sizing(2000, 2000, 4 * 2**30, 4 * 2**30)
    # p95 of 1..100 (numpy's linear interpolation) is 95.05 -> 96m; memory max 200Mi x 1.15 = 241,172,480
    # bytes, rounded up to KRR's 1 MB: 242 MB
    assert krr_simple(t) == Sizing(96, None, 242 * MB, 242 * MB)
    # flat usage: the decay does not matter; 400m x 1.15 = 460m; 300Mi x 1.15 = 345Mi
    flat = trace([400.0] * 600, [300 * MIB] * 600)
    assert vpa_like(flat) == Sizing(460, 460, 345 * MIB, 345 * MIB)
    # minimums: VPA 25m and 250Mi, KRR 10m and 100 MB
    tiny = trace([1.0] * 10, [10 * MIB] * 10)
    assert vpa_like(tiny) == Sizing(25, 25, 250 * MIB, 250 * MIB)
    assert krr_simple(tiny) == Sizing(10, None, 100 * MB, 100 * MB)


def test_krr_reads_the_last_14_days() -> None:
    """20 days: 900m and 900Mi for the first 6, 100m and 100Mi since; KRR's 336-hour history sees only the quiet part."""
    t = trace([900.0] * (6 * 288) + [100.0] * (14 * 288), [900 * MIB] * (6 * 288) + [100 * MIB] * (14 * 288))
    assert krr_simple(t) == Sizing(100, None, 121 * MB, 121 * MB)  # 100Mi x 1.15 = 120,586,240 bytes -> 121 MB


def test_vpa_records_an_oom_as_a_bumped_peak_of_its_interval() -> None:
    """An OOM kill with 345Mi requested, where the day's peak so far is 300Mi: VPA adds a sample of
    max(345Mi + 100Mi, 345Mi x 1.2) = 445Mi as that day's peak; the recent day dominates the p90 of
    the decayed peaks, so the target is 445Mi x 1.15 = 511.75Mi."""
    flat = trace([400.0] * 600, [300 * MIB] * 600)
    oom = Oom(int(flat.timestamps[-10]), 345 * MIB, 345 * MIB)
    assert vpa_like(flat, (oom,)) == Sizing(460, 460, 536_608_768, 536_608_768)
    assert 536_608_768 == 511.75 * MIB
    # an OOM outside the window's intervals changes nothing
    assert vpa_like(flat, (Oom(-10**6, 345 * MIB, 345 * MIB),)) == vpa_like(flat)


def test_ooms_are_the_first_samples_of_runs_above_the_limit() -> None:
    w = trace([1.0] * 6, [100 * MIB, 300 * MIB, 300 * MIB, 0.0, 300 * MIB, 100 * MIB])
    # the missing sample (0) ends the first run: two kills, at 300 s and 1200 s
    assert ooms_under(w, 200 * MIB, 150 * MIB) == [Oom(300, 200 * MIB, 150 * MIB), Oom(1200, 200 * MIB, 150 * MIB)]
    assert ooms_under(w, None) == [] and ooms_under(w, 300 * MIB) == []


def test_vpa_histograms_forget_old_samples_with_a_24h_half_life() -> None:
    values = np.array([1000.0, 100.0])
    # the old sample is 4 half-lives older: weight 1/16 against 1 (6% of the total); p90 is the recent value
    assert weighted_percentile(values, np.array([0.0625, 1.0]), 90) == 100.0
    assert weighted_percentile(values, np.array([1.0, 1.0]), 90) == 1000.0


def test_scores() -> None:
    assert episodes(np.array([False, True, True, False, True, False, True, True])) == 3
    rates = ResourceRates(Decimal("0.04"), Decimal("0.005"), "test")
    test = trace([100.0, 300.0, 200.0, 600.0], [100 * MIB, 300 * MIB, 0.0, 300 * MIB])
    s = score(Sizing(200, 500, 200 * MIB, 250 * MIB), test, rates)
    # CPU slack: (100 + 0 + 0 + 0) / (200 x 4); above the request: 300, 600; above the limit: 600
    assert (s.samples, s.cpu_slack, s.cpu_over_request_pct, s.cpu_over_limit_pct) == (4, 0.125, 50.0, 25.0)
    # memory: 3 known samples; slack (100Mi + 0 + 0) / (200Mi x 3); the missing sample between the two
    # samples above 250Mi ends the first run, so it counts as two episodes (never fewer OOMs than may be)
    assert (s.memory_slack, s.memory_over_request_pct, s.oom_episodes) == (pytest.approx(1 / 6), pytest.approx(200 / 3), 2)
    # 0.2 vCPU x $0.04 + (200/1024) GiB x $0.005, x 730 h
    assert s.monthly_cost_usd == (Decimal("0.2") * Decimal("0.04") + Decimal(200) / 1024 * Decimal("0.005")) * 730
    unbounded = score(Sizing(None, None, None, None), test, rates)
    assert (unbounded.cpu_slack, unbounded.cpu_over_limit_pct, unbounded.oom_episodes, unbounded.monthly_cost_usd) == (None, None, None, 0)


def test_backtest_command_scores_each_strategy_on_the_part_after_training(tmp_path: Path) -> None:
    """A VM provisioned with 2 cores and 4 GiB that uses a steady half core and 1 GiB for 4 days,
    then a full core and 1.5 GiB for 2 days: every strategy trains on the first 4 days."""
    import json

    from click.testing import CliRunner

    from gitbot.cli import main

    rows = []
    for i in range(6 * 288):
        late = i >= 4 * 288
        cpu_mhz, memory_kb = (2000.0 if late else 1000.0), (1572864.0 if late else 1048576.0)
        rows.append(f"{1372629600 + i * 300};\t2;\t4000.0;\t{cpu_mhz};\t0;\t4194304.0;\t{memory_kb};\t0;\t0;\t0;\t0")
    path = bitbrains(tmp_path, rows, "vm9.csv.gz")
    result = CliRunner().invoke(main, ["backtest", str(path), "--format", "json", "--strategy", "krr-simple", "--strategy", "vpa-like"])
    assert result.exit_code == 0, result.output
    got = {r["strategy"]: r for r in json.loads(result.stdout)["results"]}
    assert got["krr-simple"]["train_samples"] == 4 * 288
    # trained on the steady part: 500m and 1 GiB (x 1.15); VPA: 500m x 1.15 = 575m
    assert got["krr-simple"]["sizing"] == {"cpu_request_m": 500, "cpu_limit_m": None,  # 1 GiB x 1.15, in whole MB
                                           "memory_request_bytes": 1235 * MB, "memory_limit_bytes": 1235 * MB}
    assert got["vpa-like"]["sizing"]["cpu_request_m"] == 575
    # the last 2 days use 1 core and 1.5 GiB: always above both requests, one long OOM episode each
    for name in ("krr-simple", "vpa-like"):
        score = got[name]["score"]
        assert (score["samples"], score["cpu_over_request_pct"], score["cpu_slack"], score["oom_episodes"]) == (2 * 288, 100.0, 0.0, 1)


def test_the_json_summary_gives_each_strategys_slack_as_a_multiple_of_the_oracles(tmp_path: Path) -> None:
    """Four steady days of training, then two days of CPU and memory drawn at random: every
    strategy's mean slack in the JSON summary, divided by the oracle's, as the table prints it."""
    import json

    from click.testing import CliRunner

    from gitbot.cli import main

    rng = np.random.default_rng(4)
    rows = []
    for i in range(6 * 288):
        late = i >= 4 * 288
        cpu_mhz = float(rng.uniform(800, 2400)) if late else 1000.0
        memory_kb = float(rng.uniform(1.0, 1.6)) * 1048576 if late else 1048576.0
        rows.append(f"{1372629600 + i * 300};\t2;\t4000.0;\t{cpu_mhz};\t0;\t4194304.0;\t{memory_kb};\t0;\t0;\t0;\t0")
    path = bitbrains(tmp_path, rows, "vm7.csv.gz")
    result = CliRunner().invoke(main, ["backtest", str(path), "--format", "json", "--strategy", "vpa-like", "--strategy", "oracle"])
    assert result.exit_code == 0, result.output
    strategies = {s["strategy"]: s for s in json.loads(result.stdout)["summary"]["bitbrains"]["strategies"]}
    assert list(strategies) == ["vpa-like", "oracle"]  # krr-simple replayed for the oracle's budget, not shown
    oracle = strategies["oracle"]
    assert oracle["cpu_slack_pct"] > 0 and oracle["memory_slack_pct"] > 0
    for s in strategies.values():
        assert s["cpu_slack_x_oracle"] == s["cpu_slack_pct"] / oracle["cpu_slack_pct"]
        assert s["memory_slack_x_oracle"] == s["memory_slack_pct"] / oracle["memory_slack_pct"]
    assert (oracle["cpu_slack_x_oracle"], oracle["memory_slack_x_oracle"]) == (1.0, 1.0)
    # trained on 1 GiB, VPA requests 1.15 GiB, under most of the scored 1-1.6 GiB: less slack than the
    # oracle's request of the scored maximum, paid for with samples over the request
    vpa = strategies["vpa-like"]
    assert vpa["memory_slack_x_oracle"] < 1 and vpa["memory_over_request_pct"] > 50 and oracle["memory_over_request_pct"] == 0


def test_alibaba_genai_rows_become_one_memory_trace_per_container(tmp_path: Path) -> None:
    path = tmp_path / "genai.csv"
    path.write_text("container_id,timestamp,cpu_util_percent,mem_util_percent,gpu_duty_cycle_percent\n"
                    "b,120,,50,\n" "a,60,,25.0,0\n" "a,0,,12.5,\n" "b,60,,100,3\n")
    a, b = read_traces(path, memory_capacity=8 * 2**30)
    assert (a.name, a.source, a.has_cpu, a.step_seconds) == ("genai-a", "alibaba-genai", False, 60)
    assert a.timestamps.tolist() == [0, 60] and a.memory_bytes.tolist() == [2**30, 2 * 2**30]  # % of 8 GiB, sorted by time
    assert b.memory_bytes.tolist() == [8 * 2**30, 4 * 2**30]
    assert current(a) == Sizing(None, None, 8 * 2**30, 8 * 2**30) and krr_simple(a).cpu_request_m is None
    s = score(current(a), a, ResourceRates(Decimal("0.04"), Decimal("0.005"), "test"))
    assert (s.cpu_slack, s.cpu_over_request_pct, s.memory_slack) == (None, None, pytest.approx(1 - 1.5 / 8))


@pytest.mark.parametrize(
    ("header", "what"),
    [
        ("name,cpu_milli,memory_mib,num_gpu\n", "an Alibaba GPU v2023 pod list (requests, no usage); nothing to replay"),
        ("sn,cpu_milli,memory_mib,gpu,model\n", "an Alibaba GPU v2023 node list (capacities, no usage); nothing to replay"),
    ],
)
def test_files_without_usage_are_named_not_replayed(tmp_path: Path, header: str, what: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(header)
    with pytest.raises(NotATrace) as info:
        read_traces(path)
    assert str(info.value) == f"{path}: {what}"
    path.write_text("when,value\n")
    with pytest.raises(InputError) as refused:
        read_traces(path)
    assert str(refused.value) == f"{path}:1: not a known trace format (Bitbrains GWA-T-12 or Alibaba GenAI pod memory)"


@pytest.mark.skipif(not TRACES.is_dir(), reason="shared traces not found")
def test_on_the_shared_bitbrains_traces_gitbot_against_both_baselines_and_the_oracle() -> None:
    """The issue's bar, on the nine Bitbrains VMs, each check printed as it stands: no more OOM
    episodes, CPU samples over the request and memory samples over the request than the better
    baseline (met), less slack than it (met but for mean CPU slack), mean CPU slack within 1.10x
    the oracle's and mean memory slack within 0.80x the better baseline's (not met)."""
    from gitbot.pipeline import BacktestRequest, backtest
    from gitbot.backtest import oracle
    from gitbot.backtest.run import checks, oracle_ratios, summaries

    run = backtest(BacktestRequest(tuple(sorted(TRACES.glob("bitbrains_rnd_2013-7_vm*.csv.gz"))),
                                   ("krr-simple", "vpa-like", "gitbot", "oracle")))
    totals = summaries(run.results)["bitbrains"]
    verdict = {c.score: (round(c.value, 1), c.baseline, round(c.bound, 1), c.passed) for c in checks(totals)}
    assert verdict == {
        "OOM episodes": (0.0, "krr-simple", 45.0, True),
        "CPU samples over request %": (11.8, "vpa-like", 12.9, True),
        "memory samples over request %": (2.7, "krr-simple", 4.2, True),
        "CPU slack % (mean)": (38.8, "vpa-like", 37.2, False),
        "CPU slack % (pooled)": (37.6, "vpa-like", 39.5, True),
        "memory slack % (mean)": (55.2, "vpa-like", 63.9, True),
        "memory slack % (pooled)": (44.6, "vpa-like", 52.8, True),
        "CPU slack % (mean) against the oracle": (38.8, "oracle", 28.1, False),  # 1.10 x 25.6
        "memory slack % (mean) against the better baseline": (55.2, "vpa-like", 51.1, False),  # 0.80 x 63.9
    }
    ratios = {name: tuple(round(r or 0, 2) for r in pair) for name, pair in oracle_ratios(totals).items()}
    assert ratios == {"krr-simple": (1.98, 1.18), "vpa-like": (1.46, 1.06), "gitbot": (1.52, 0.91), "oracle": (1.0, 1.0)}
    # the oracle spends the best baseline's 12.9 % mean CPU over-request where it removes the most
    # slack, and comes within 0.01 points of the certified bound no static sizing can beat
    by = {(r.trace, r.strategy): r for r in run.results}
    names = sorted({r.trace for r in run.results})
    assert totals["oracle"].cpu_over_request_pct <= totals["vpa-like"].cpu_over_request_pct
    assert (round(totals["vpa-like"].cpu_over_request_pct, 3), round(totals["oracle"].cpu_slack_pct, 3)) == (12.95, 25.552)
    scored = [by[(n, "oracle")] for n in names]
    assert all(r.score.oom_episodes == 0 and r.score.memory_over_request_pct == 0.0 for r in scored)
    replays = [read_bitbrains(TRACES / f"{n}.csv.gz") for n in names]
    usages = [t.window(r.windows[0][0], r.windows[0][1]).cpu_m for t, r in zip(replays, scored)]
    assert round(oracle.lower_bound(usages, totals["vpa-like"].cpu_over_request_pct), 3) == 25.546
    # vm84's memory climbs from 2.5 to 5.1 GiB after training: the trend keeps gitbot's limit above it
    assert (by[("bitbrains_rnd_2013-7_vm84", "krr-simple")].score.oom_episodes, by[("bitbrains_rnd_2013-7_vm84", "vpa-like")].score.oom_episodes,
            by[("bitbrains_rnd_2013-7_vm84", "gitbot")].score.oom_episodes) == (45, 45, 0)
    errors = {(e.trace, e.series, e.horizon_hours): e for e in run.forecast_errors}
    assert len(errors) == 36 and {h for _, _, h in errors} == {2, 4}
    wins = sorted(k for k, e in errors.items() if e.model_smape < e.naive_smape)
    assert len(wins) == 32  # the bar is 80 %, 29 of 36
    assert sorted(set(errors) - set(wins)) == [
        ("bitbrains_rnd_2013-7_vm407", "cpu", 4), ("bitbrains_rnd_2013-7_vm411", "cpu", 2), ("bitbrains_rnd_2013-7_vm411", "cpu", 4),
        ("bitbrains_rnd_2013-7_vm84", "memory", 4)]
    assert sorted({e.trace for e in errors.values() if e.blend}) == [
        "bitbrains_rnd_2013-7_vm286", "bitbrains_rnd_2013-7_vm338", "bitbrains_rnd_2013-7_vm407", "bitbrains_rnd_2013-7_vm411"]


def test_rolling_refits_fit_again_on_all_data_so_far(tmp_path: Path) -> None:
    """Half a core for 4 days, then a full core for 2; trained on 3 days and re-fitted daily, KRR's
    p95 catches up one day late: day 3 fits (500m, 0 % over), day 4 is all above it (100 %), day 5's
    fit has seen day 4 (p95 of 4 days at 500m and 1 at 1000m = 1000m, 0 % over): 33.3 % overall."""
    import json

    from click.testing import CliRunner

    from gitbot.backtest.score import merge

    rows = []
    for i in range(6 * 288):
        cpu_mhz = 2000.0 if i >= 4 * 288 else 1000.0
        rows.append(f"{1372629600 + i * 300};\t2;\t4000.0;\t{cpu_mhz};\t0;\t4194304.0;\t1048576.0;\t0;\t0;\t0;\t0")
    path = bitbrains(tmp_path, rows, "vm9.csv.gz")
    result = CliRunner().invoke(main_cli(), ["backtest", str(path), "--format", "json", "--strategy", "krr-simple", "--train", "0.5",
                                             "--refit", "1d"])
    assert result.exit_code == 0, result.output
    (krr,) = json.loads(result.stdout)["results"]
    assert (krr["fits"], krr["sizing"]["cpu_request_m"]) == (3, 1000)
    assert krr["score"]["samples"] == 3 * 288
    assert round(krr["score"]["cpu_over_request_pct"], 4) == round(100 / 3, 4)
    # merged slack comes from the summed core-hours: days 3 and 5 have none unused (500m of 500m,
    # 1000m of 1000m), day 4 none either (above the request)
    assert krr["score"]["cpu_slack"] == 0.0
    rates = ResourceRates(Decimal("0.04"), Decimal("0.005"), "test")
    a = score(Sizing(1000, None, None, None), trace([500.0] * 10, [0.0] * 10), rates)
    b = score(Sizing(1000, None, None, None), trace([1500.0] * 30, [0.0] * 30), rates)
    both = merge([a, b])
    assert (both.samples, both.cpu_slack, both.cpu_over_request_pct, both.oom_episodes) == (40, 0.5 * 10 / 40, 75.0, None)


def main_cli():
    from gitbot.cli import main

    return main


def test_charts_are_one_png_per_trace(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner
    from matplotlib.image import imread

    rows = [f"{1372629600 + i * 300};\t2;\t4000.0;\t1000.0;\t0;\t4194304.0;\t1048576.0;\t0;\t0;\t0;\t0" for i in range(4 * 288)]
    path = bitbrains(tmp_path, rows, "vm/9.csv.gz".replace("/", "_"))
    out = tmp_path / "charts" / "new"
    result = CliRunner().invoke(main_cli(), ["backtest", str(path), "--format", "json", "--charts", str(out), "--refit", "12h"])
    assert result.exit_code == 0, result.output
    png = out / "vm_9.png"
    assert json.loads(result.stdout)["charts"] == [str(png)]
    assert sorted(p.name for p in out.iterdir()) == ["vm_9.png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert imread(png).shape == (900, 1400, 4)  # 14 x 9 inches at 100 dpi, RGBA


def test_the_oracle_trades_over_request_between_traces_for_the_least_mean_slack() -> None:
    """Trace a idles at 10m with one sample at 100m, trace b runs at 50m. With 5 % mean over-request
    to spend, a's lone peak can go over (10 % of a, 0 % of b) and both requests leave no slack;
    with 4 % it cannot, and a needs 100m (81 % slack)."""
    from gitbot.backtest import oracle

    a, b = np.array([10.0] * 9 + [100.0]), np.array([50.0] * 10)
    curve = oracle.Curve.of(a)
    assert (curve.requests_m.tolist(), curve.over_pct.tolist(), curve.slack_pct.tolist()) == ([10, 100], [10.0, 0.0], [0.0, 81.0])
    assert oracle.cpu_requests([a, b], 5.0) == [10, 50]
    assert oracle.cpu_requests([a, b], 4.0) == [100, 50]
    # the certified bound: the Lagrangian dual, here 8.1 % below the 40.5 % two discrete choices allow
    assert round(oracle.lower_bound([a, b], 4.0), 6) == 8.1 and oracle.lower_bound([a, b], 5.0) == 0.0
    assert oracle.memory_request(np.array([1.5, 3.2, 2.0])) == 4 and oracle.memory_request(np.zeros(0)) is None


def test_with_refits_vpa_and_gitbot_see_their_own_oom_kills() -> None:
    """1 GiB for 16 days, 1.3 GiB on day 16, 1 GiB again; trained on 14 days and re-fitted every 3.
    Both are killed on day 16 (VPA at 1.15 GiB, gitbot at its 1229Mi limit). VPA's next fit records
    the kill as max(1.3 GiB + 100Mi, 1.3 GiB x 1.2) for that day: 1.3 x 1.2 x 1.15 GiB, where the
    same history without the kill gives 1.3 x 1.15 GiB; gitbot's profile carries the kill and its
    oom-bump rule would hold the limit above it."""
    from gitbot.backtest.run import backtest, gitbot_sizing
    from gitbot.strategies.percentile import PercentileStrategy, StrategySettings
    from gitbot.strategies.rules import default_rules_dir, load_rules

    memory = np.full(21 * 288, float(2**30))
    memory[16 * 288:17 * 288] = 1.3 * 2**30
    t = trace([500.0] * memory.size, memory.tolist(), start=1372629600)
    strategy = PercentileStrategy(StrategySettings(), load_rules([default_rules_dir()], ()), ())
    rates = ResourceRates(Decimal("0.04"), Decimal("0.005"), "test")
    vpa, gitbot = backtest([t], ("vpa-like", "gitbot"), strategy, rates, refit_seconds=3 * 86400).results
    assert [z.memory_limit_bytes for _, _, z in vpa.windows] == [1_234_803_098, 1_926_292_833, 1_234_803_098]
    second = vpa.windows[1][0]
    assert vpa_like(t.window(int(t.timestamps[0]), second)).memory_limit_bytes == 1_605_244_027  # without the kill
    assert [z.memory_limit_bytes for _, _, z in gitbot.windows] == [1229 * MIB, 1598 * MIB, 1598 * MIB]
    assert (vpa.score.oom_episodes, gitbot.score.oom_episodes) == (1, 1)
    # the kill reaches gitbot's rules: at a 2 GiB limit it would keep the request at 2 GiB and the limit at x1.2
    history = t.window(int(t.timestamps[0]), second)
    assert gitbot_sizing(history, strategy, "production", ooms=(Oom(second - 3600, 2**31, 2**31),)) == Sizing(500, None, 2**31, 2458 * MIB)


def test_under_a_limit_above_the_peak_the_memory_request_takes_no_margin() -> None:
    """1 GiB with 30Mi of noise for 12 days. With the production limit rule (the limit above the
    forecast peak) gitbot requests the forecast's p99: 1.3 % of the scored samples go above the
    request, none above the limit, and 6.1 % of the requested GiB-hours idle. Without a limit to
    catch a burst it adds the 15 % margin: nothing above the request, 18.3 % idle."""
    from gitbot.backtest.run import backtest
    from gitbot.strategies.percentile import PercentileStrategy, StrategySettings
    from gitbot.strategies.rules import default_rules_dir, load_rules

    rng = np.random.default_rng(2)
    memory = 2**30 + rng.normal(0, 30 * MIB, 12 * 288)
    t = trace((300 + rng.normal(0, 20, memory.size)).tolist(), memory.tolist(), start=1372629600)
    rates = ResourceRates(Decimal("0.04"), Decimal("0.005"), "test")
    got = {}
    for disabled in ((), ("memory-limit-production", "memory-limit-non-production")):
        strategy = PercentileStrategy(StrategySettings(), load_rules([default_rules_dir()], disabled), ())
        (r,) = backtest([t], ("gitbot",), strategy, rates).results
        got[bool(disabled)] = (r.sizing.memory_request_bytes // MIB, (r.sizing.memory_limit_bytes or 0) // MIB,
                               round(r.score.memory_over_request_pct or 0, 2), round((r.score.memory_slack or 0) * 100, 1), r.score.oom_episodes)
    assert got == {False: (1092, 1341, 1.3, 6.1, 0), True: (1256, 0, 0.0, 18.3, None)}
