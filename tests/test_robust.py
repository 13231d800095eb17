"""Nothing a user can do gets a traceback, loses a result or trains twice.

One test (or a few) per case of the issue's table, then the newcomer's friction. Runs are tiny
(100-200 training digits, 1-2 passes, the reference engine). Read-only places and full disks
are simulated by replacing the one function that writes files (store._write_file) or probes a
folder (store._probe): the tests may run as root, for whom chmod does not stop a write; a file
where a folder is expected needs no simulation.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from lecun1989 import ladder, results, store, train
from lecun1989.cli import main
from lecun1989.config import Config, Preset

REPO = Path(__file__).resolve().parents[1]
IMAGE = str(REPO / "tests" / "images" / "pen-3.jpg")
TINY = ["--engine", "torch", "--train-size", "100", "--passes", "1"]
TINY_OVERRIDE = ["--engine", "torch", "--override", "train_size=100", "--override", "passes=1"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error_line(err: str, *needles: str) -> str:
    """stderr is exactly one `lecun1989: error:` line holding every needle; no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lecun1989: error: ") and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def strict_json(text: str):
    def refuse(c):
        raise AssertionError(f"bare {c} in JSON")
    return json.loads(text, parse_constant=refuse)


def subprocess_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


# -- train --train-size beyond the data ---------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["train", "--train-size", "999999"],
    ["train", "--data", "usps", "--train-size", "8000"],
    ["train", "--data", "usps", "--train-size", "8000", "--seeds", "2"],
    ["train", "--data", "mnist", "--train-size", "70000"],
    ["ladder", "anchor", "--steps", "a0", "--override", "train_size=8000"],
], ids=["mnist1989", "usps", "usps-seeds", "mnist", "ladder"])
def test_train_size_beyond_the_data_is_a_usage_error_before_any_work(capsys, tmp_path, argv):
    out = tmp_path / "out"
    code, stdout, err = cli(capsys, *argv, "--out", str(out))
    assert code == 2 and stdout == ""
    one_error_line(err, "train_size", "exceeds", "--help")
    assert not out.exists()


# -- --out that cannot be written ---------------------------------------------------------------
@pytest.mark.parametrize("cmd", [["train", *TINY], ["train", *TINY, "--seeds", "2"], ["repro", "--seeds", "1"],
                                 ["repro"], ["ladder", "anchor", *TINY_OVERRIDE]],
                         ids=["train", "train-seeds", "repro-1", "repro", "ladder"])
@pytest.mark.parametrize("where", ["a-file", "under-a-file", "read-only"])
def test_out_that_cannot_be_written_is_one_line_before_any_work(capsys, tmp_path, monkeypatch, cmd, where):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    out = {"a-file": afile, "under-a-file": afile / "run", "read-only": tmp_path / "ro" / "run"}[where]
    if where == "read-only":
        def read_only(folder):
            raise OSError(errno.EROFS, "Read-only file system", str(folder))
        monkeypatch.setattr(store, "_probe", read_only)
    code, stdout, err = cli(capsys, *cmd, "--out", str(out))
    assert code == 2 and stdout == ""
    line = one_error_line(err, "--out", str(out))
    assert ("read-only" in line) if where == "read-only" else ("is a file, not a folder" in line
                                                               or "a file is there" in line)
    assert afile.read_text() == "not a folder"


def test_out_holding_something_else_than_a_run_is_not_replaced(capsys, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    code, _, err = cli(capsys, "train", *TINY, "--out", str(tmp_path))
    assert code == 2 and "does not hold a lecun1989 run" in one_error_line(err)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


# -- disk full ----------------------------------------------------------------------------------
def _full_disk_for(monkeypatch, name: str) -> None:
    real = store._write_file

    def write(path, blob):
        if Path(path).name.startswith(f".{name}."):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, blob)
    monkeypatch.setattr(store, "_write_file", write)


def test_disk_full_during_train_leaves_no_run(capsys, tmp_path, monkeypatch):
    _full_disk_for(monkeypatch, "checkpoint.pt")
    out = tmp_path / "runs" / "r1"
    code, _, err = cli(capsys, "train", *TINY, "--out", str(out))
    assert code == 1
    one_error_line(err, str(out / "checkpoint.pt"), "No space left on device", "free some space")
    assert not out.exists() and os.listdir(out.parent) == []


def test_disk_full_in_a_ladder_is_one_line_and_keeps_nothing_half_written(capsys, tmp_path, monkeypatch):
    _full_disk_for(monkeypatch, "results.json")
    code, _, err = cli(capsys, "ladder", "anchor", "--steps", "a0", "--seeds", "1", "--jobs", "1",
                       *TINY_OVERRIDE, "--out", str(tmp_path))
    assert code == 1
    one_error_line(err, str(tmp_path / "results.json"), "No space left")
    assert not (tmp_path / "results.json").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    # the run itself finished and is kept
    assert len([p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]) == 1


# -- predict --show -----------------------------------------------------------------------------
def test_predict_show_at_a_file_or_unwritable(capsys, tmp_path, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for show in (afile, afile / "sub"):
        code, stdout, err = cli(capsys, "predict", "--model", "1989", "--show", str(show), IMAGE)
        assert code == 2 and stdout == ""
        one_error_line(err, "--show", str(show))
    real = store._write_file

    def denied(path, blob):
        if str(path).endswith(".png." + str(os.getpid()) + ".tmp"):
            raise PermissionError(errno.EACCES, "Permission denied")
        real(path, blob)
    monkeypatch.setattr(store, "_write_file", denied)
    code, _, err = cli(capsys, "predict", "--model", "1989", "--show", str(tmp_path / "seen"), IMAGE)
    assert code == 1
    one_error_line(err, str(tmp_path / "seen" / "pen-3.16x16.png"), "Permission denied")


# -- predict --model that is not a checkpoint ---------------------------------------------------
class _Evil:
    marker = ""

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _bad_models(tmp_path: Path) -> dict[str, Path]:
    files = {}
    (files.setdefault("text", tmp_path / "notes.txt")).write_text("hello\n")
    shutil.copy(IMAGE.replace("pen-3.jpg", "font-0.png"), files.setdefault("png", tmp_path / "digit.png"))
    (files.setdefault("empty", tmp_path / "empty.pt")).write_bytes(b"")
    torch.save(torch.zeros(3), files.setdefault("tensor", tmp_path / "tensor.pt"))
    _Evil.marker = str(tmp_path / "PWNED")
    for proto in (2, 4):
        (files.setdefault(f"code-pickle-{proto}", tmp_path / f"evil{proto}.pt")).write_bytes(
            pickle.dumps(_Evil(), protocol=proto))
    buf = io.BytesIO()
    torch.save({"state_dict": {}, "config": {}}, buf)
    (files.setdefault("truncated", tmp_path / "truncated.pt")).write_bytes(buf.getvalue()[:200])
    torch.save({"state_dict": {"H1w": torch.zeros(2)}, "config": {}}, files.setdefault("shapes", tmp_path / "w.pt"))
    torch.save({"state_dict": {}, "config": {"activation": "sigmoid"}}, files.setdefault("config", tmp_path / "c.pt"))
    return files


def test_predict_model_that_is_not_a_checkpoint(capsys, tmp_path):
    for kind, path in _bad_models(tmp_path).items():
        code, stdout, err = cli(capsys, "predict", "--model", str(path), IMAGE)
        assert code == 1 and stdout == "", kind
        line = one_error_line(err, str(path))
        assert any(w in line for w in ("not a lecun1989 checkpoint", "damaged", "do not fit", "not valid")), line
        if kind.startswith("code-pickle"):
            assert "never run" in line
    assert not (tmp_path / "PWNED").exists()        # the pickle's code was never executed


# -- damaged finished runs of a ladder ----------------------------------------------------------
DAMAGE = {
    "metrics-truncated": lambda d: (d / "metrics.jsonl").write_text((d / "metrics.jsonl").read_text()[:150]),
    "metrics-empty": lambda d: (d / "metrics.jsonl").write_text(""),
    "metrics-missing": lambda d: (d / "metrics.jsonl").unlink(),
    "status-corrupt": lambda d: (d / "status.json").write_text('{"status": "do'),
    "checkpoint-corrupt": lambda d: (d / "checkpoint.pt").write_bytes((d / "checkpoint.pt").read_bytes()[:999]),
    "checkpoint-missing": lambda d: (d / "checkpoint.pt").unlink(),
    "config-corrupt": lambda d: (d / "config.json").write_text("{"),
}
SEEDS = tuple(range(1, len(DAMAGE) + 1))


@pytest.fixture(scope="module")
def finished_ladder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished")
    ladder.run_ladder("anchor", steps=["a0"], seeds=SEEDS, out=out, engine="torch", workers=1,
                      override={"train_size": 100, "passes": 1})
    return out


def _runs(out: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted((out / "runs").iterdir()) if not p.name.startswith(".")}


def test_damaged_finished_runs_are_trained_again_in_one_line_each(capsys, tmp_path, finished_ladder):
    out = tmp_path / "lad"
    shutil.copytree(finished_ladder, out)
    before = {k: (p / "metrics.jsonl").read_text() for k, p in _runs(out).items()}
    for damage, d in zip(DAMAGE.values(), _runs(out).values()):
        damage(d)
    code, stdout, err = cli(capsys, "ladder", "anchor", "--steps", "a0", "--seeds", ",".join(map(str, SEEDS)),
                            "--jobs", "1", *TINY_OVERRIDE, "--out", str(out))
    assert code == 0 and err == "", err
    damaged = [line for line in stdout.splitlines() if "damaged (" in line and line.endswith("training it again")]
    assert len(damaged) == len(DAMAGE), stdout
    res = strict_json((out / "results.json").read_text())
    assert res["runs_trained"] == len(DAMAGE) and res["steps"][0]["n"] == len(SEEDS)
    assert {k: (p / "metrics.jsonl").read_text() for k, p in _runs(out).items()} == before
    for d in _runs(out).values():
        assert store.check_run(d) is None


@pytest.fixture
def small_galleries(monkeypatch):
    """Reports of these barely trained nets draw 30 of their ~1500 mistakes (time, not coverage)."""
    from lecun1989 import report
    monkeypatch.setattr(report, "GALLERY_MAX", 30)


def test_report_says_on_the_terminal_what_it_could_not_draw(capsys, tmp_path, finished_ladder, small_galleries):
    out = tmp_path / "lad"
    shutil.copytree(finished_ladder, out)
    first = next(iter(_runs(out).values()))
    (first / "checkpoint.pt").unlink()
    code, stdout, err = cli(capsys, "report", str(out))
    assert code == 0 and "report.html" in stdout
    assert f"not drawn: {first}: no checkpoint.pt" in err
    gone = json.loads((first / "config.json").read_text())["seed"]
    shown = 2 if gone == 1 else 1
    assert f"the figures of a single run show step a0, seed {shown}" in err


# -- an interrupted train -----------------------------------------------------------------------
def test_ctrl_c_of_train_leaves_no_run_folder_and_says_so_once(capsys, tmp_path, monkeypatch):
    from lecun1989 import commands

    def stop(p, tr, te):
        raise KeyboardInterrupt
    monkeypatch.setattr(commands, "print_pass", stop)
    out = tmp_path / "run"
    code, _, err = cli(capsys, "train", *TINY, "--out", str(out))
    assert code == 130
    assert err.strip().splitlines() == [f"lecun1989: interrupted; nothing was written to {out} "
                                        "(the half-trained run was removed)"]
    assert os.listdir(tmp_path) == []


def test_ctrl_c_of_a_ladder_says_so_once(capsys, tmp_path, monkeypatch):
    def stop(cfg, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr(train, "run", stop)
    code, _, err = cli(capsys, "ladder", "anchor", "--steps", "a0", "--seeds", "1", "--jobs", "1",
                       *TINY_OVERRIDE, "--out", str(tmp_path))
    assert code == 130 and len(err.strip().splitlines()) == 1 and "interrupted; finished runs are kept" in err


def test_killed_train_leaves_only_a_hidden_unfinished_folder(capsys, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "lecun1989.cli", "train", "--engine", "torch", "--passes", "50",
                             "--train-size", "100", "--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=subprocess_env())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(tmp_path.glob(".tmp-run-*/metrics.jsonl")):
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.kill()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert not out.exists()
    [tmp] = tmp_path.glob(".tmp-run-*")
    code, _, err = cli(capsys, "report", str(tmp))
    assert code == 1 and "an unfinished run (metrics for" in one_error_line(err, str(tmp), "of its 50 passes")
    # the next train into the same folder cleans it up (its process is gone)
    code, _, _ = cli(capsys, "train", *TINY, "--out", str(out))
    assert code == 0 and os.listdir(tmp_path) == ["run"] and store.check_run(out) is None


def test_report_on_an_unfinished_run_folder_is_an_error(capsys, tmp_path, finished_ladder):
    run = next(iter(_runs(finished_ladder).values()))
    d = tmp_path / "partial"
    d.mkdir()
    cfg = json.loads((run / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "passes": 20}))
    (d / "metrics.jsonl").write_text((run / "metrics.jsonl").read_text())
    code, _, err = cli(capsys, "report", str(d))
    assert code == 1 and "metrics for 1 of its 20 passes" in one_error_line(err, str(d))


# -- two ladders on one folder ------------------------------------------------------------------
def test_two_ladders_on_one_folder_split_the_work_and_agree(tmp_path):
    out = tmp_path / "shared"
    # one worker each (two processes in all on this 2-core machine; --jobs 2 each works the same
    # way: the claim is taken by whichever process trains the run)
    cmd = [sys.executable, "-m", "lecun1989.cli", "ladder", "anchor", "--steps", "a0,a1", "--seeds", "2",
           "--jobs", "1", "--engine", "torch", "--override", "passes=1", "--override", "train_size=200",
           "--out", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    trained = [line for o, _ in outs for line in o.splitlines()
               if line.startswith("[") and "(trained by another process)" not in line]
    assert len(trained) == 4, outs                       # each run trained once, by one of them
    tables = [[line for line in o.splitlines() if line.startswith("| a")] for o, _ in outs]
    assert tables[0] == tables[1] and len(tables[0]) == 2
    # the same runs as one ladder alone
    alone = tmp_path / "alone"
    ladder.run_ladder("anchor", steps=["a0", "a1"], seeds=(1337, 1338), out=alone, engine="torch", workers=1,
                      override={"passes": 1, "train_size": 200})
    assert ({k: (p / "metrics.jsonl").read_text() for k, p in _runs(out).items()}
            == {k: (p / "metrics.jsonl").read_text() for k, p in _runs(alone).items()})


HOLD = ("import sys, time; from lecun1989 import store\n"
        "with store.claim(sys.argv[1]) as got:\n"
        "    print(got, flush=True); time.sleep(float(sys.argv[2]))\n")


def test_a_claim_whose_process_died_is_taken_over(tmp_path):
    """Another process claims a run and is killed (SIGKILL) while this ladder waits for it."""
    step = ladder.apply_override(ladder.PRESETS["a0"], {"train_size": 100, "passes": 1})
    run_dir = tmp_path / "runs" / ladder.run_id(step.config.with_overrides(seed=1), "torch")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir), "60"], stdout=subprocess.PIPE, text=True,
                              env=subprocess_env())
    try:
        assert holder.stdout.readline().strip() == "True"
        lines: list[str] = []
        result: dict = {}
        t = threading.Thread(target=lambda: result.update(ladder.run_steps(
            [step], (1,), tmp_path, engine="torch", workers=1, on_line=lines.append)))
        t.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("claimed by another process" in x for x in lines):
            time.sleep(0.05)
        assert any(f"(pid {holder.pid})" in x for x in lines), lines
        os.kill(holder.pid, signal.SIGKILL)
        t.join(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert not t.is_alive() and result["runs_trained"] == 1 and result["steps"][0]["n"] == 1


# -- data ---------------------------------------------------------------------------------------
def test_a_folder_where_a_data_file_should_be(capsys, tmp_path, monkeypatch):
    from lecun1989 import data, datasets
    (tmp_path / "usps" / "zip.train.gz").mkdir(parents=True)
    no_mirror = ((tmp_path / "no-mirror").as_uri() + "/",)
    monkeypatch.setitem(datasets.REGISTRY, "usps", dataclasses.replace(datasets.REGISTRY["usps"], mirrors=no_mirror))
    with pytest.raises(data.DataError, match="zip.train.gz: a folder where the data file"):
        data.load_dataset("usps", tmp_path)
    code, stdout, _ = cli(capsys, "data", "verify", "--data-root", str(tmp_path))
    assert code == 1 and "BAD" in stdout and "a folder where the data file" in stdout
    code, _, err = cli(capsys, "train", "--data", "usps", *TINY, "--data-root", str(tmp_path),
                       "--out", str(tmp_path / "run"))
    assert code == 1 and "a folder where" in one_error_line(err, "zip.train.gz")
    assert (tmp_path / "usps" / "zip.train.gz").is_dir() and os.listdir(tmp_path / "usps") == ["zip.train.gz"]


def test_a_mistyped_data_folder_is_never_created(capsys, tmp_path, monkeypatch):
    typo = tmp_path / "nonexistent" / "dir"
    code, _, err = cli(capsys, "train", "--data", "usps", *TINY, "--data-root", str(typo), "--out", str(tmp_path / "r"))
    assert code == 2 and "no such folder" in one_error_line(err, "--data-root", "LECUN1989_DATA")
    monkeypatch.setenv("LECUN1989_DATA", str(typo))
    code, _, err = cli(capsys, "train", "--data", "usps", *TINY, "--out", str(tmp_path / "r"))
    assert code == 1 and "does not exist" in one_error_line(err, str(typo), "--data-root", "LECUN1989_DATA")
    code, _, err = cli(capsys, "data", "fetch", "mnist")
    assert code == 1 and "does not exist" in one_error_line(err, "LECUN1989_DATA")
    assert not (tmp_path / "nonexistent").exists()


def test_missing_data_names_both_ways_to_point_at_it(capsys, tmp_path):
    from lecun1989 import data
    with pytest.raises(data.DataError) as e:
        data.load_dataset("usps", tmp_path, download=False)
    assert "--data-root or LECUN1989_DATA" in str(e.value)


# -- divergence: strict JSON --------------------------------------------------------------------
def test_a_diverged_run_writes_strict_json(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli(capsys, "train", *TINY, "--lr", "50", "--activation", "relu", "--head", "linear",
                       "--out", str(out))
    assert code == 1 and "diverged" in err
    recs = [strict_json(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert recs[-1]["loss"] is None and recs[-1]["diverged"] is True
    for name in ("status.json", "rejection.json", "config.json"):
        strict_json((out / name).read_text())
    assert strict_json((out / "status.json").read_text())["status"] == "diverged"
    bad = Config(train_size=100, passes=1, activation="relu", head="linear", lr=50.0)
    res = ladder.run_steps([Preset("bad", "custom", "lr 50", "", bad, (1,), {})], (1,), tmp_path / "lad",
                           engine="torch", workers=1)
    assert res["steps"][0]["diverged"] == 1
    strict_json((tmp_path / "lad" / "results.json").read_text())
    with pytest.raises(ValueError):
        json.dumps(float("nan"), allow_nan=False)
    assert store.dumps({"x": [float("nan"), float("inf"), 1.0]}) == '{"x": [null, null, 1.0]}'


# -- report on corrupt files, disk full in report -----------------------------------------------
def test_report_names_the_corrupt_file(capsys, tmp_path, finished_ladder):
    lad = tmp_path / "lad"
    shutil.copytree(finished_ladder, lad)
    (lad / "results.json").write_text((lad / "results.json").read_text()[:300])
    code, _, err = cli(capsys, "report", str(lad))
    assert code == 1 and "not valid JSON" in one_error_line(err, str(lad / "results.json"))
    run = tmp_path / "run"
    shutil.copytree(next(iter(_runs(finished_ladder).values())), run)
    (run / "config.json").write_text("{oops")
    code, _, err = cli(capsys, "report", str(run))
    assert code == 1 and "not valid JSON" in one_error_line(err, str(run / "config.json"))


def test_disk_full_in_report_names_the_file(capsys, tmp_path, monkeypatch, finished_ladder, small_galleries):
    run = tmp_path / "run"
    shutil.copytree(next(iter(_runs(finished_ladder).values())), run)
    _full_disk_for(monkeypatch, "report.html")
    code, _, err = cli(capsys, "report", str(run))
    assert code == 1
    one_error_line(err, str(run / "report.html"), "No space left on device")
    assert not (run / "report.html").exists()


# == friction ===================================================================================
def test_invalid_options_print_one_line_not_the_usage_block(capsys):
    for argv in (["train", "--lr", "-1"], ["ladder", "nope"], ["repro", "--bogus"], []):
        code, stdout, err = cli(capsys, *argv)
        assert code == 2 and stdout == ""
        assert "usage:" not in err and "--help" in one_error_line(err)


def test_terminal_ladder_table_is_compact_and_results_md_indexes_the_runs(capsys, tmp_path, finished_ladder):
    code, stdout, _ = cli(capsys, "ladder", "anchor", "--steps", "a0", "--seeds", ",".join(map(str, SEEDS)),
                          "--jobs", "1", *TINY_OVERRIDE, "--out", str(finished_ladder))
    assert code == 0 and f"{len(SEEDS)} already done" in stdout
    table = [line for line in stdout.splitlines() if line.startswith("|")]
    assert [c.strip() for c in table[0].split("|")[1:-1]] == ["step", "n", "test misses", "Δ vs base [95% CI]",
                                                              "verdict"]
    assert all(len(line) <= 80 for line in table)
    rows = [{"step": "l6b@57", "preset": "l6b", "n": 3, "test_misses_mean": 101.2, "test_misses_min": 95, "test_misses_max": 110,
             "delta_misses": -12.4, "delta_ci95": [-20.1, -4.7], "base": "l5b", "larger_than_noise": True,
             "diverged": 2, "diverged_at": [3, 5], "missing": 0}]
    lines = results.compact_table_lines(rows, 5)
    assert all(len(line) <= 80 for line in lines) and "-12.4 ± 7.7" in lines[2] and "3/5" in lines[2]
    assert lines[-1] == "l6b@57: of 5 seeds, 2 diverged (at pass 3, 5)"
    md = (finished_ladder / "results.md").read_text()
    for d in _runs(finished_ladder):
        assert f"[runs/{d}](runs/{d}/)" in md


def test_a_rerun_that_trains_nothing_keeps_the_training_wall_time(finished_ladder, tmp_path):
    lad = tmp_path / "lad"
    shutil.copytree(finished_ladder, lad)
    before = strict_json((lad / "results.json").read_text())
    res = ladder.run_ladder("anchor", steps=["a0"], seeds=SEEDS, out=lad, engine="torch", workers=1,
                            override={"train_size": 100, "passes": 1})
    assert res["runs_trained"] == 0 and res["wall_s"] == before["wall_s"]
    assert res["invocation_wall_s"] < before["wall_s"]
    assert strict_json((lad / "results.json").read_text())["wall_s"] == before["wall_s"]


def test_progress_covers_the_whole_ladder(tmp_path):
    seen: list[tuple] = []
    ladder.run_ladder("anchor", steps=["a0", "a1"], seeds=(1,), out=tmp_path, engine="torch", workers=1,
                      override={"train_size": 100, "passes": 2}, on_progress=lambda *a: seen.append(a))
    done, total, k, n = seen[-1]
    assert total == 2 * 2 * 100 and done == total and (k, n) == (2, 2)
    assert seen[0][0] == 0 and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))


def test_repro_mean_row_has_every_cell(capsys, monkeypatch):
    from lecun1989 import commands
    cfg = Config(train_size=100, passes=1)
    assert commands.repro_seeds(cfg, (1, 2), engine="torch", jobs=1) == 0
    out = capsys.readouterr().out
    header = [line for line in out.splitlines() if "train error" in line and line.startswith("|")][0]
    mean = [line for line in out.splitlines() if line.startswith("| mean ± sd over 2 seeds")][0]
    assert mean.count("|") == header.count("|") == 5 and mean.rstrip("| ").endswith("%")


def test_data_list_says_each_thing_once(capsys, tmp_path):
    shutil.copytree(REPO / "tests" / "images", tmp_path / "x")        # any folder: nothing is there
    code, stdout, _ = cli(capsys, "data", "list", "--data-root", str(tmp_path))
    assert code == 0
    for line in stdout.splitlines()[1:]:
        words = line.split()
        assert not any(a == b for a, b in zip(words[2:], words[3:])), line


def test_skipped_real_data_tests_are_counted_in_one_line():
    """conftest's terminal summary hook, given what pytest hands it: one line for the skips."""
    import conftest

    class Report:
        def __init__(self, reason):
            self.longrepr = ("tests/test_data.py", 1, f"Skipped: {reason}")

    class Terminal:
        def __init__(self, skipped):
            self.stats, self.lines = {"skipped": skipped}, []

        def write_line(self, line, **kw):
            self.lines.append(line)
    t = Terminal([Report(f"{conftest._NO_DATA} at /nowhere (set LECUN1989_TEST_DATA)")] * 3
                 + [Report("Chromium not found")])
    conftest.pytest_terminal_summary(t)
    [line] = t.lines
    assert line.startswith("lecun1989: 3 real-data test(s) skipped") and "LECUN1989_TEST_DATA" in line
    t = Terminal([Report("Chromium not found")])
    conftest.pytest_terminal_summary(t)
    assert t.lines == []


# -- one reader of run folders -------------------------------------------------------------------
def test_a_metrics_line_cut_short_is_damage_for_every_reader(tmp_path):
    """store.read_run is the one reader (the ladder's and the report's go through it): a line cut
    short is a CorruptFileError naming the file and line, never a run read as shorter than it was."""
    from lecun1989 import report
    d = tmp_path / "run"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({**Config(passes=2).to_dict(), "engine": "fast"}))
    (d / "status.json").write_text(json.dumps({"status": "done", "seed": 1337}))
    whole = '{"pass": 1, "split": "train", "error": 0.1, "loss": 0.2, "misses": 1, "n": 10}\n'
    (d / "metrics.jsonl").write_text(whole + whole[:30])
    for read in (store.read_run, ladder.read_run, report.read_run):
        with pytest.raises(store.CorruptFileError, match=r"metrics\.jsonl:2: not valid JSON.*cut short"):
            read(d)
    (d / "metrics.jsonl").write_text(whole)
    files = store.read_run(d)
    assert files.config["passes"] == 2 and files.status["status"] == "done" and len(files.records) == 1
    (d / "status.json").unlink()
    assert store.read_run(d).status is None and len(report.read_run(d).records) == 1
    with pytest.raises(store.CorruptFileError, match="status.json: missing"):
        ladder.read_run(d)
    (d / "config.json").write_text("[1, 2]")
    with pytest.raises(store.CorruptFileError, match="config.json: not a JSON object"):
        store.read_run(d)
