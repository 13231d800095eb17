"""The lockstep engine in the ladders (and so in `train --seeds`): the seeds of one config trained
together in groups of K, every run folder the one a single run writes, atomic and resumable.

Runs are tiny (100 training digits, 2 passes); K = 4 through LECUN1989_LOCKSTEP_K, so 5 seeds make
a group of 4 and a group of 1 per step.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lecun1989 import ladder, store, train
from lecun1989.data import load_dataset
from lecun1989.store import metrics_text

TINY = {"train_size": 100, "passes": 2}
SEEDS = (1337, 1338, 1339, 1340, 1341)


@pytest.fixture
def k4(monkeypatch):
    monkeypatch.setenv("LECUN1989_LOCKSTEP_K", "4")     # inherited by the spawned workers


def _steps():
    return [ladder.apply_override(ladder.PRESETS[s], TINY) for s in ("a0", "a1")]


def _runs(out: Path) -> dict[str, Path]:
    return {p.name: p for p in (out / "runs").iterdir() if not p.name.startswith(".")}


def test_batches_group_the_seeds_of_one_config(k4):
    jobs = [ladder.RunJob(p.config.with_overrides(seed=s), f"/x/{p.name}-{s}", "lockstep")
            for p in _steps() for s in SEEDS]
    assert [[j.config.seed for j in b] for b in ladder.make_batches(jobs)] == [list(SEEDS[:4]), [1341]] * 2
    assert {b[0].config.head for b in ladder.make_batches(jobs)[2:]} == {"linear"}
    fast = [ladder.RunJob(j.config, j.dir, "fast") for j in jobs]
    assert ladder.make_batches(fast) == [(j,) for j in fast]


def test_a_lockstep_ladder_is_each_seed_trained_alone_and_is_reused(tmp_path, k4):
    out = tmp_path / "ladder"
    lines: list[str] = []
    res = ladder.run_steps(_steps(), SEEDS, out, engine="lockstep", workers=2, on_line=lines.append)
    assert res["runs_trained"] == 10 and not res["runs_failed"] and res["engine"] == "lockstep"
    assert "10 to train in 4 lockstep group(s) on 2 process(es), engine lockstep" in lines[0], lines[0]
    assert sum(line.startswith("[") for line in lines) == 10
    runs = _runs(out)
    assert len(runs) == 10 and all(name.endswith("-lockstep") for name in runs)
    data = load_dataset("mnist1989")
    for step in _steps():
        for seed in SEEDS:
            cfg = step.config.with_overrides(seed=seed)
            d = runs[ladder.run_id(cfg, "lockstep")]
            assert store.check_run(d, cfg) is None
            assert sorted(p.name for p in d.iterdir()) == ["checkpoint.pt", "config.json", "metrics.jsonl",
                                                           "rejection.json", "status.json"]
            assert store.read_json(d / "config.json")["engine"] == "lockstep"
            assert store.read_json(d / "status.json")["engine"] == "lockstep"
            alone = train.run(cfg, engine="lockstep", data=data, progress=False)
            assert (d / "metrics.jsonl").read_text() == metrics_text(alone.records)
            model, _ = store.load_checkpoint(d / "checkpoint.pt")
            for name, w in model.state_dict().items():
                assert torch.equal(w, alone.state[name]), (step.name, seed, name)
    again: list[str] = []
    res2 = ladder.run_steps(_steps(), SEEDS, out, engine="lockstep", workers=2, on_line=again.append)
    assert res2["runs_trained"] == 0 and res2["runs_reused"] == 10
    assert "10 already done" in again[0] and not any(line.startswith("[") for line in again)
    assert res2["steps"] == res["steps"]


def test_an_interrupted_group_leaves_no_half_written_folder(tmp_path, k4, monkeypatch):
    """Ctrl-C while the group of 4 writes its third checkpoint (two runs complete in their
    temporary folders): no run folder, no temporary folder; the next invocation trains all."""
    calls = []
    save = store.save_checkpoint

    def interrupted(path, state, cfg):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        save(path, state, cfg)
    monkeypatch.setattr(store, "save_checkpoint", interrupted)
    out = tmp_path / "ladder"
    step = _steps()[:1]
    with pytest.raises(KeyboardInterrupt):
        ladder.run_steps(step, SEEDS[:4], out, engine="lockstep", workers=1)
    assert len(calls) == 3 and list((out / "runs").iterdir()) in ([], [out / "runs" / ".claims"])
    monkeypatch.setattr(store, "save_checkpoint", save)
    res = ladder.run_steps(step, SEEDS[:4], out, engine="lockstep", workers=1)
    assert res["runs_trained"] == 4 and len(_runs(out)) == 4


def test_a_failed_group_fails_its_runs_only(tmp_path, k4, monkeypatch):
    def full(path, state, cfg):
        raise OSError(28, "No space left on device", str(path))
    monkeypatch.setattr(store, "save_checkpoint", full)
    out = tmp_path / "ladder"
    res = ladder.run_steps(_steps()[:1], SEEDS[:2], out, engine="lockstep", workers=1)
    assert len(res["runs_failed"]) == 2 and not _runs(out)
    assert "No space left on device" in res["runs_failed"][0]["error"]
    assert ".tmp-" not in res["runs_failed"][0]["error"]


def test_train_seeds_on_the_lockstep_engine(tmp_path, k4, capsys):
    from lecun1989.cli import main
    out = tmp_path / "seeds"
    code = main(["train", "--engine", "lockstep", "--seeds", "3", "--passes", "1", "--train-size", "100",
                 "--jobs", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr()
    assert len(_runs(out)) == 3 and all(n.endswith("-lockstep") for n in _runs(out))
