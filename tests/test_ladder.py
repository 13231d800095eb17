"""The ladders: presets, seeds, statistics, the run store (atomic, resumable), tables, the CLI.

Runs here are tiny (100 training digits, 1-2 passes, the reference engine) through the ladder's
override, so the machinery is tested, not the presets' results.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lecun1989 import ladder
from lecun1989.cli import main
from lecun1989.config import LADDERS, PRESETS, Config, ConfigError, Preset, preset

TINY = {"train_size": 100, "passes": 2}
ENGINE = "torch"        # tiny runs: no compile time; the fast engine has its own tests


# -- presets ---------------------------------------------------------------------------------
def test_ladders_list_the_issue_steps_in_order():
    assert LADDERS == {"anchor": ("a0", "a1", "a2", "a3", "a4"),
                       "learner": ("l0", "l1", "l2", "l3", "l4", "l5", "l5b", "l6a", "l6b"),
                       "data": ("d5", "d6"),
                       "paper": ("p0", "p1", "p2", "p3", "p4"),
                       "size": ("s1", "s2", "s4", "s1a1", "s1a2", "s1a3", "s1a4", "s2a4", "s4a4")}
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("a9")


def test_presets_are_the_published_steps():
    c = {k: p.config for k, p in PRESETS.items()}
    assert c["a0"] == Config()
    assert (c["a1"].head, c["a1"].lr, c["a1"].optimizer) == ("linear", 0.01, "sgd")
    assert (c["a2"].optimizer, c["a2"].lr, c["a2"].schedule, c["a2"].passes) == ("adamw", 3e-4, "linear", 46)
    assert (c["a3"].shift, c["a3"].passes, c["a3"].dropout) == (True, 60, 0.0)
    assert (c["a4"].dropout, c["a4"].activation, c["a4"].passes, c["a4"].shift) == (0.25, "relu", 80, True)
    assert c["l0"] == Config(data="mnist1989-test-first")
    assert (c["l1"].activation, c["l1"].head, c["l1"].optimizer) == ("relu", "tanh", "sgd")
    assert (c["l2"].optimizer, c["l2"].head, c["l2"].schedule) == ("adamw", "linear", "constant")
    assert c["l3"].schedule == "linear" and c["l3"].passes == 23
    assert c["l4"] == c["l3"].with_overrides(dropout=0.25)
    assert c["l5"] == c["l3"].with_overrides(shift=True)
    assert c["l5b"] == c["l5"].with_overrides(dropout=0.25)
    assert c["l6a"] == c["l0"].with_overrides(passes=80) and PRESETS["l6a"].report_passes == (23, 57, 80)
    assert c["l6b"] == c["l5b"].with_overrides(passes=80) and PRESETS["l6b"].report_passes == (23, 57, 71, 80)
    assert c["d5"] == c["a4"].with_overrides(data="mnist", train_size=50000)
    assert c["d6"] == Config(data="mnist", train_size=50000, passes=100)
    for p in PRESETS.values():
        assert p.config.seed == 1337 and p.report_passes[-1] == p.config.passes
        assert p.change and p.why and (not p.base or p.base in PRESETS)
    assert PRESETS["a0"].published_at(23)["test_misses"] == 82
    assert PRESETS["l6b"].published_at(71)["test"] == "1.59% (32)"
    assert PRESETS["l6b"].published_at(80) == {} and PRESETS["l6a"].published_at(57)["test_misses"] == 79


def test_paper_ladder_steps_and_published_figures():
    from lecun1989.config import DEFAULT_LR, LADDER_NAMES
    assert "paper" in LADDER_NAMES and [p.name for p in ladder.ladder_steps("paper")] == ["p0", "p1", "p2", "p3", "p4"]
    assert {"p0", "p3"} <= {p.name for p in ladder.ladder_steps("all")}
    c = {k: PRESETS[k].config for k in LADDERS["paper"]}
    assert c["p0"] == PRESETS["a0"].config == Config()
    assert c["p1"] == Config(data="usps")
    paper = dict(activation="scaled-tanh", optimizer="sdlm", lr=DEFAULT_LR["sdlm"], sdlm_mu=0.02)
    assert c["p2"] == c["p1"].with_overrides(**paper) and c["p2"].lr == 3e-4
    assert c["p3"] == c["p0"].with_overrides(**paper)
    assert all(x.passes == 23 for x in c.values())
    assert [PRESETS[k].base for k in LADDERS["paper"]] == ["", "p0", "p1", "p0", "p2"]
    # p4: the hunt's chosen trial (docs/data/hunt/confirm.json), rounded, on p2
    from lecun1989.config import HUNT_P4
    assert c["p4"] == c["p2"].with_overrides(**HUNT_P4) and c["p4"].h2_scheme == "lenet5"
    for k in LADDERS["paper"]:
        pub = PRESETS[k].published_at(23)
        assert (pub["train"], pub["test"], pub["test_misses"]) == ("0.14% (10)", "5.00% (102)", 102)
        assert (pub["train_mse"], pub["test_mse"], pub["reject_1pct"]) == (2.5e-3, 1.8e-2, 0.121)


def test_override_keeps_report_passes_within_the_run():
    p = ladder.apply_override(PRESETS["l6b"], {"passes": 60})
    assert p.report_passes == (23, 57, 60) and p.config.passes == 60
    assert ladder.apply_override(PRESETS["a0"], TINY).report_passes == (2,)


# -- seeds and statistics ---------------------------------------------------------------------
def test_seeds_are_a_count_or_a_list():
    assert ladder.parse_seeds("3") == (1337, 1338, 1339)
    assert ladder.parse_seeds("2", first=7) == (7, 8)
    assert ladder.parse_seeds("1337,1400") == (1337, 1400)
    assert ladder.parse_seeds("42,") == (42,)
    for bad in ("0", "x", "1,1", "1,-2", "-1"):
        with pytest.raises(ValueError):
            ladder.parse_seeds(bad)


def test_intervals_tests_and_holm_against_scipy_and_by_hand():
    from scipy import stats as sst
    from lecun1989 import stats
    # Welch (different seeds): by hand se = sqrt(1/3 + 5/12), Welch df = 4.96, t = 2.574
    d = stats.compare({1: 1, 2: 2, 3: 3}, {4: 4, 5: 5, 6: 6, 7: 7}, "x")
    assert d.test == "Welch t" and d.diff == 3.5
    assert d.low == pytest.approx(1.268, abs=2e-3) and d.high == pytest.approx(5.732, abs=2e-3)
    assert d.p == pytest.approx(sst.ttest_ind([4, 5, 6, 7], [1, 2, 3], equal_var=False).pvalue)
    # paired (the same seeds): the interval of the per-seed differences
    a = {1: 80, 2: 90, 3: 85, 4: 70, 5: 95}
    b = {1: 70, 2: 82, 3: 74, 4: 62, 5: 83}
    d = stats.compare(a, b, "a")
    diffs = [b[k] - a[k] for k in a]
    assert d.test == "paired t" and d.n == 5 and d.diff == pytest.approx(-9.8)
    assert d.p == pytest.approx(sst.ttest_rel(list(b.values()), list(a.values())).pvalue)
    half = sst.t.ppf(0.975, 4) * np.std(diffs, ddof=1) / np.sqrt(5)
    assert (d.low, d.high) == pytest.approx((-9.8 - half, -9.8 + half))
    assert d.corr > 0.9 and d.se_ratio < 0.3                # strongly paired: pairing helps
    assert d.median_diff == -10.0 and d.p_rank == pytest.approx(sst.wilcoxon(diffs).pvalue)
    # one failed seed widens the t interval past zero; the median and the rank test stay put
    b_fail = {**b, 5: 600}
    f = stats.compare(a, b_fail, "a")
    assert f.low < 0 < f.high and f.median_diff == -8.0         # median of -10, -8, -11, -8, +505
    assert stats.compare({1: 5}, {1: 6}, "a") is None
    # Holm (1979): p = (0.01, 0.04, 0.03, 0.005) -> (0.03, 0.06, 0.06, 0.02)
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    m, sd = stats.mean_sd([1.0, 2.0, None, 3.0])
    assert (m, sd) == (2.0, 1.0) and stats.mean_sd([4.0]) == (4.0, None) and stats.mean_sd([]) == (None, None)
    assert stats.pm(0.0408, 0.0023, pct=True) == "4.08 ± 0.23%" and stats.pm(None, None) == "-"


def test_verdicts_in_words_and_placements():
    from lecun1989 import stats
    big = stats.Delta("a", "paired t", 40, -14.2, -17.3, -11.1, 1e-9, p_holm=1e-8)
    assert big.significant and big.verdict() == "-14.2 ± 3.1 misses"
    small = stats.Delta("a", "paired t", 40, -1.0, -3.4, 2.6, 0.4, p_holm=0.8)
    assert not small.significant and small.verdict() == "no effect larger than 3 misses"
    # significant alone, not after Holm's correction
    assert not stats.Delta("a", "Welch t", 5, 5, 0.5, 9.5, 0.03, p_holm=0.09).significant
    ours = list(range(40, 60))                               # 20 seeds, 40..59 misses
    assert stats.place(ours, 30, "x").verdict == "lucky" and stats.place(ours, 30, "x").percentile == 0
    assert stats.place(ours, 50, "x").verdict == "typical" and stats.place(ours, 70, "x").verdict == "unlucky"
    assert stats.true_misses(2.19, 2007) == 44 and stats.true_misses(4.09, 2007) == 82
    t = stats.two_sample([1, 2, 3, 4], [1, 2, 3, 5], "s")
    assert t.n_a == t.n_b == 4 and 0 < t.p_mannwhitney <= 1 and t.low < 0.25 < t.high
    assert stats.seeds_for_half_width(10.0, 4.0) >= 25


def test_seeds_for_half_width_is_the_fewest_that_reach_it():
    from scipy import stats as st
    from lecun1989 import stats

    def half(n, sd):
        return st.t.ppf(0.975, n - 1) * sd / n ** 0.5
    for sd, hw in ((7.2, 4.0), (10.0, 4.0), (3.0, 4.0), (25.0, 2.0)):
        n = stats.seeds_for_half_width(sd, hw)
        assert half(n, sd) <= hw and (n == 2 or half(n - 1, sd) > hw), (sd, hw, n)
    assert stats.seeds_for_half_width(7.2, 4.0) == 15       # not the 523 of t with 1 df


def test_step_stats_round_trip_through_json():
    from lecun1989 import stats
    row = stats.StepStats("a1", "a1", "c", "w", 23, 23, 2, 7291, 2007, misses={1: 80, 2: 85},
                          delta=stats.Delta("a0", "paired t", 2, 1.0, -5.0, 7.0, 0.5, p_holm=0.5),
                          placements=[stats.place([80, 85], 88, "anchor (published)", 87)])
    j = json.loads(json.dumps(row.to_json()))
    back = stats.StepStats.from_json(j)
    assert back == row
    assert j["delta_ci95"] == [-5.0, 7.0] and j["larger_than_noise"] is False and j["verdict"].startswith("no effect")


# -- runs -----------------------------------------------------------------------------------------
def _mtimes(out: Path) -> dict[str, float]:
    return {p.name: (p / "status.json").stat().st_mtime_ns for p in (out / "runs").iterdir()
            if not p.name.startswith(".")}


def _metrics(out: Path) -> dict[str, str]:
    # hidden entries are bookkeeping (.claims/, a run in training's .tmp-*), not runs
    return {p.name: (p / "metrics.jsonl").read_text() for p in (out / "runs").iterdir()
            if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory) -> Path:
    """Steps a0, a1 x 2 seeds on two worker processes (shared by the tests below)."""
    out = tmp_path_factory.mktemp("ladder2")
    lines: list[str] = []
    ladder.run_ladder("anchor", steps=["a0", "a1"], seeds=(1337, 1338), out=out, engine=ENGINE,
                      workers=2, override=TINY, on_line=lines.append)
    assert sum(line.startswith("[") for line in lines) == 4        # one progress line per run
    return out


def test_results_files_carry_mean_sd_n_and_provenance(two_workers):
    res = json.loads((two_workers / "results.json").read_text())
    assert res["ladder"] == "anchor" and res["seeds"] == [1337, 1338]
    assert {"machine", "torch", "numpy"} <= set(res["provenance"]) and res["wall_s"] > 0
    a0, a1 = res["steps"]
    for row in (a0, a1):
        assert row["n"] == 2 and row["diverged"] == 0 and row["test_digits"] == 2007
        assert row["train_digits"] == TINY["train_size"]
        runs = row["runs"]
        misses = [r["test_misses"] for r in runs]
        assert row["test_misses_mean"] == sum(misses) / 2
        assert (row["test_misses_min"], row["test_misses_max"]) == (min(misses), max(misses))
        errs = [r["test_error"] for r in runs]
        assert row["test_error_sd"] == pytest.approx(abs(errs[0] - errs[1]) / math.sqrt(2))
        for r in runs:
            d = two_workers / r["dir"]
            assert (d / "checkpoint.pt").is_file() and (d / "config.json").is_file()
            assert json.loads((d / "status.json").read_text())["status"] == "done"
    assert a0["published"]["test_misses"] == 82 and a0["delta_misses"] is None
    assert a1["base"] == "a0" and a1["delta_misses"] == a1["test_misses_mean"] - a0["test_misses_mean"]
    lo, hi = a1["delta_ci95"]
    assert lo <= a1["delta_misses"] <= hi and a1["larger_than_noise"] == (not lo <= 0 <= hi)
    md = (two_workers / "results.md").read_text()
    assert "9,760 parameters" in md and "63,660 multiply-adds" in md and "Welch" in md
    assert "| a1 |" in md and res["provenance"]["machine"] in md
    csv = (two_workers / "results.csv").read_text().splitlines()
    assert len(csv) == 3 and csv[0].startswith("step,change,passes")


def test_tables_carry_mse_and_rejection_mean_sd(two_workers):
    res = json.loads((two_workers / "results.json").read_text())
    a0, a1 = res["steps"]
    assert a0["loss"] == "mse" and a1["loss"] == "cross-entropy"
    recs = {}
    for r in a0["runs"]:
        lines = (two_workers / r["dir"] / "metrics.jsonl").read_text().splitlines()
        recs[r["seed"]] = {x["split"]: x for x in map(json.loads, lines) if x["pass"] == TINY["passes"]}
    rej = [recs[s]["test"]["reject_1pct"] for s in (1337, 1338)]
    mse = [recs[s]["test"]["loss"] for s in (1337, 1338)]
    assert a0["test_reject_1pct_mean"] == pytest.approx(sum(rej) / 2)
    assert a0["test_reject_1pct_sd"] == pytest.approx(abs(rej[0] - rej[1]) / math.sqrt(2))
    assert a0["test_mse_mean"] == pytest.approx(sum(mse) / 2) == a0["test_loss_mean"]
    assert a0["train_mse_mean"] == pytest.approx(sum(recs[s]["train"]["loss"] for s in (1337, 1338)) / 2)
    assert a1["test_mse_mean"] is None and a1["test_loss_mean"] > 0 and a1["test_reject_1pct_mean"] is not None
    md = (two_workers / "results.md").read_text()
    header = [line for line in md.splitlines() if line.startswith("| step | change")][0]
    assert "train MSE" in header and "test MSE" in header and "rejected for 1% error" in header
    assert "published rejection" not in header          # no step of this ladder has one
    row = [line for line in md.splitlines() if line.startswith("| a0 | 1989")][0]       # the full table (with the change)
    assert f"{a0['test_mse_mean']:.2e} ± " in row and f"{100 * a0['test_reject_1pct_mean']:.2f} ± " in row
    csv = (two_workers / "results.csv").read_text().splitlines()[0].split(",")
    assert {"train_mse_mean", "test_mse_sd", "test_reject_1pct_mean", "published_reject_1pct"} <= set(csv)


def test_paper_table_puts_the_papers_figures_beside_mse_and_rejection(tmp_path):
    steps = [ladder.apply_override(PRESETS[k], TINY) for k in ("p0", "p3")]
    res = ladder.run_steps(steps, (1337,), tmp_path, ladder="paper", engine=ENGINE, workers=1)
    p0, p3 = res["steps"]
    assert p3["base"] == "p0" and p0["published"]["reject_1pct"] == 0.121
    assert p0["test_reject_1pct_mean"] is not None and p0["test_reject_1pct_sd"] is None   # one seed
    lines = (tmp_path / "results.md").read_text().splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith("| step | change"))     # the full table
    header = [c.strip() for c in lines[at].strip("|").split("|")]
    row = [c.strip() for c in [x for x in lines[at:] if x.startswith("| p3 |")][0].strip("|").split("|")]
    cell = dict(zip(header, row))
    assert cell["published train / test"] == "0.14% (10) / 5.00% (102)"
    assert cell["published MSE train / test"] == "2.5e-03 / 1.8e-02"
    assert cell["published rejection"] == "12.1%"
    assert cell["test MSE"] == f"{p3['test_mse_mean']:.2e}"
    assert cell["test rejected for 1% error"] == f"{100 * p3['test_reject_1pct_mean']:.2f}%"
    assert header.index("published rejection") == header.index("test rejected for 1% error") + 1
    assert "1989 paper's own figures" in "\n".join(lines)
    csv = (tmp_path / "results.csv").read_text().splitlines()
    assert csv[1].count(",0.121,") == 1 and ",0.0025,0.018," in csv[1]


def test_one_worker_gives_the_same_runs_as_two(two_workers, tmp_path):
    ladder.run_ladder("anchor", steps=["a0", "a1"], seeds=(1337, 1338), out=tmp_path, engine=ENGINE,
                      workers=1, override=TINY)
    assert _metrics(tmp_path) == _metrics(two_workers)


def test_rerun_reuses_finished_runs(two_workers):
    before = _mtimes(two_workers)
    res = ladder.run_ladder("anchor", steps=["a0", "a1"], seeds=(1337, 1338), out=two_workers,
                            engine=ENGINE, workers=2, override=TINY)
    assert res["runs_trained"] == 0 and res["runs_reused"] == 4
    assert _mtimes(two_workers) == before


@pytest.mark.parametrize("sig,jobs", [(signal.SIGKILL, 1), (signal.SIGINT, 2)], ids=["kill-1-job", "ctrl-c-2-jobs"])
def test_interrupted_ladder_resumes_without_redoing_finished_runs(tmp_path, sig, jobs):
    """Interrupt a ladder after its first finished run; the next call trains only what is missing.
    The child gets Ctrl-C's default disposition: started from a background job, this process may
    have SIGINT ignored, the child would inherit that and Python would then never raise
    KeyboardInterrupt in it."""
    cmd = [sys.executable, "-m", "lecun1989.cli", "ladder", "anchor", "--steps", "a0,a1,a2,a3",
           "--seeds", "1", "--jobs", str(jobs), "--engine", ENGINE, "--out", str(tmp_path),
           "--override", "train_size=100", "--override", "passes=2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    runs = tmp_path / "runs"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if runs.is_dir() and any(not p.name.startswith(".") for p in runs.iterdir()):
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the ladder finished before it could be interrupted"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and b"interrupted" in err
    first = _mtimes(tmp_path)
    assert 1 <= len(first) < 4
    res = ladder.run_ladder("anchor", steps=["a0", "a1", "a2", "a3"], seeds=(1337,), out=tmp_path,
                            engine=ENGINE, workers=1, override=TINY)
    assert res["runs_reused"] == len(first) and res["runs_trained"] == 4 - len(first)
    after = _mtimes(tmp_path)
    assert len(after) == 4 and all(after[k] == v for k, v in first.items())
    assert not [p for p in runs.iterdir() if p.name.startswith(".tmp-")]     # half-runs cleaned up
    assert [r["n"] for r in res["steps"]] == [1, 1, 1, 1]


def test_ctrl_c_keeps_finished_runs_and_cleans_the_half_run(tmp_path, monkeypatch):
    """An exception (as Ctrl-C raises) in the middle of the second run."""
    import lecun1989.train as train
    real, calls = train.run, []

    def run(cfg, **kw):
        calls.append(cfg.seed)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(cfg, **kw)

    monkeypatch.setattr(train, "run", run)
    with pytest.raises(KeyboardInterrupt):
        ladder.run_ladder("anchor", steps=["a0"], seeds=(1337, 1338, 1339), out=tmp_path, engine=ENGINE,
                          workers=1, override=TINY)
    assert len(_mtimes(tmp_path)) == 1 and not list((tmp_path / "runs").glob(".tmp-*"))
    monkeypatch.setattr(train, "run", real)
    res = ladder.run_ladder("anchor", steps=["a0"], seeds=(1337, 1338, 1339), out=tmp_path, engine=ENGINE,
                            workers=1, override=TINY)
    assert res["runs_reused"] == 1 and res["runs_trained"] == 2 and res["steps"][0]["n"] == 3


def test_a_diverged_run_is_recorded_and_the_others_go_on(tmp_path):
    ok = Config(train_size=100, passes=2)
    bad = Config(train_size=100, passes=2, activation="relu", head="linear", lr=50.0)  # NaN in pass 1
    steps = [Preset("ok", "custom", "fine", "", ok, (1, 2), {}),
             Preset("bad", "custom", "lr 50", "", bad, (2,), {}, base="ok")]
    lines: list[str] = []
    res = ladder.run_steps(steps, (1, 2), tmp_path, engine=ENGINE, workers=1, on_line=lines.append)
    ok1, ok2, bad_row = res["steps"]
    assert [r["step"] for r in res["steps"]] == ["ok@1", "ok@2", "bad"]
    assert ok2["n"] == 2 and bad_row["n"] == 0 and bad_row["diverged"] == 2 and bad_row["diverged_at"] == [1, 1]
    assert {r["status"] for r in bad_row["runs"]} == {"diverged"}
    assert sum("diverged at pass 1" in line for line in lines) == 2
    status = json.loads((tmp_path / bad_row["runs"][0]["dir"] / "status.json").read_text())
    assert status == {**status, "status": "diverged", "diverged_at": 1}
    assert "2 diverged at pass 1,1" in (tmp_path / "results.md").read_text()
    # the intermediate pass is read from metrics.jsonl, and compared with nothing but its step
    rec = [json.loads(x) for x in (tmp_path / ok1["runs"][0]["dir"] / "metrics.jsonl").read_text().splitlines()]
    assert ok1["runs"][0]["test_misses"] == [r for r in rec if r["pass"] == 1 and r["split"] == "test"][0]["misses"]
    assert ok1["base"] is None and ok2["base"] == "ok@1" and bad_row["base"] == "ok@2"


def test_a_failing_run_does_not_stop_the_others(tmp_path, monkeypatch):
    import lecun1989.train as train
    real = train.run

    def run(cfg, **kw):
        if cfg.seed == 2:
            raise RuntimeError("disk on fire")
        return real(cfg, **kw)

    monkeypatch.setattr(train, "run", run)
    res = ladder.run_ladder("anchor", steps=["a0"], seeds=(1, 2, 3), out=tmp_path, engine=ENGINE,
                            workers=1, override=TINY)
    assert res["steps"][0]["n"] == 2 and res["steps"][0]["missing"] == 1
    assert "disk on fire" in res["runs_failed"][0]["error"]


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_ladder_then_reuse(tmp_path, capsys):
    argv = ["ladder", "anchor", "--steps", "a0", "--seeds", "2", "--out", str(tmp_path), "--jobs", "1",
            "--engine", ENGINE, "--override", "train_size=100", "--override", "passes=1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "[1/2] a0" in out and "| a0 " in out and "9,760 parameters" in out
    assert main(argv) == 0
    assert "2 already done" in capsys.readouterr().out
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["steps"][0]["n"] == 2 and res["runs_trained"] == 0


@pytest.mark.parametrize("argv", [
    ["ladder", "nope"], ["ladder", "anchor", "--steps", "l1"], ["ladder", "anchor", "--seeds", "0"],
    ["ladder", "anchor", "--seeds", "1,1"], ["ladder", "anchor", "--jobs", "0"],
    ["ladder", "anchor", "--override", "lr=x"], ["ladder", "anchor", "--override", "colour=3"],
    ["repro", "--seeds", "two"], ["train", "--seeds", "-1"], ["train", "--jobs", "x"],
])
def test_cli_bad_values_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("lecun1989") and "error:" in err[-1]


def test_cli_train_over_seeds(tmp_path, capsys):
    argv = ["train", "--train-size", "100", "--passes", "1", "--seeds", "5,6", "--jobs", "1",
            "--engine", ENGINE, "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "seed 5" in out and "seed 6" in out and "| train |" in out
    res = json.loads((tmp_path / "results.json").read_text())
    assert [r["seed"] for r in res["steps"][0]["runs"]] == [5, 6]


def test_cli_ladder_with_anchor_streams_and_a_run_stopped_early(tmp_path, capsys):
    """--rng anchor reaches every step's config (and its run folder's name); a run stopped early
    says so in status.json and its table row ("1 of 2" passes), and is not a finished 2-pass run."""
    argv = ["ladder", "anchor", "--steps", "a3", "--seeds", "1", "--out", str(tmp_path), "--jobs", "1",
            "--engine", ENGINE, "--rng", "anchor", "--override", "train_size=60",
            "--override", "passes=2", "--override", "stop_after=1"]
    assert main(argv) == 0
    assert "a3" in capsys.readouterr().out
    md = (tmp_path / "results.md").read_text()
    assert "| a3 |" in md and "| 1 of 2 |" in md
    res = json.loads((tmp_path / "results.json").read_text())
    row = res["steps"][0]
    assert row["config"]["rng"] == "anchor" and row["report_pass"] == 1 and row["n"] == 1
    [run_dir] = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["passes_trained"], status["passes_scheduled"]) == (1, 2)
    cfg = json.loads((run_dir / "config.json").read_text())
    assert (cfg["rng"], cfg["stop_after"], cfg["passes"]) == ("anchor", 1, 2)
    # the same step without stop_after is another run: it is trained, not taken from the stopped one
    argv2 = argv[:-2]
    assert main(argv2) == 0
    assert "0 already done" in capsys.readouterr().out
