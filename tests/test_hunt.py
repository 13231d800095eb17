"""The hunt: its validation split, its search space and its resumable study, with the
USPS test file absent."""

from __future__ import annotations

import json
import shutil

import pytest

from lecun1989 import hunt
from lecun1989.config import preset


def test_the_baseline_point_is_p2s_config():
    assert hunt.config_of(hunt.BASELINE) == preset("p2").config


def test_every_point_of_the_space_is_a_valid_config():
    import optuna
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(50):
        t = study.ask()
        cfg = hunt.config_of(hunt.suggest(t))
        assert cfg.data == "usps" and cfg.optimizer == "sdlm" and cfg.activation == "scaled-tanh"
        study.tell(t, 0.0)


@pytest.fixture
def train_only(tmp_path, shared_data):
    """A data folder holding usps/zip.train.gz alone."""
    root = tmp_path / "data"
    (root / "usps").mkdir(parents=True)
    shutil.copy(shared_data / "usps" / "zip.train.gz", root / "usps")
    return root


def test_validation_split_is_the_last_1000_training_digits(train_only):
    from lecun1989.data import load_usps_train
    d = hunt.validation_data(train_only)
    full = load_usps_train(train_only)
    assert len(d.train) == 6291 and len(d.test) == 1000
    assert d.train.x.equal(full.x[:6291]) and d.test.y.equal(full.y[6291:])


def test_the_search_runs_without_the_test_file_and_resumes(train_only, tmp_path, capsys):
    from lecun1989.cli import main
    out = tmp_path / "hunt"
    args = ["hunt", "--data-root", str(train_only), "--out", str(out), "--seeds", "1", "--passes", "1",
            "--jobs", "1", "--minutes", "5"]
    assert main(args + ["--trials", "2"]) == 0
    first = json.loads((out / "hunt.json").read_text())
    assert first["counts"]["complete"] + first["counts"]["pruned"] >= 2
    assert first["baseline_trial_0"]["params"] == hunt.BASELINE
    # a second session resumes the same study up to the new total
    assert main(args + ["--trials", "3"]) == 0
    second = json.loads((out / "hunt.json").read_text())
    assert second["trials"] == 3 and second["baseline_trial_0"] == first["baseline_trial_0"]
    assert (out / "history.png").stat().st_size > 0 and (out / "trials.csv").read_text().count("\n") == 4
    assert "trials    3/3" in capsys.readouterr().out
    # re-train the best trial and p1, p2 on a fresh seed, then the one-at-a-time ablation
    assert main(args + ["--confirm", "1", "--confirm-seeds", "1", "--ablate"]) == 0
    conf = json.loads((out / "confirm.json").read_text())
    assert set(conf["candidates"]) == {conf["chosen"], "p1", "p2 (baseline)"}
    abl = json.loads((out / "ablation.json").read_text())
    chosen = conf["candidates"][conf["chosen"]]["params"]
    assert len(abl["points"]) == 1 + sum(chosen[k] != v for k, v in hunt.BASELINE.items())
    assert json.loads((out / "hunt.json").read_text())["budget"]["trials"] == 3    # the search's budget is kept
    assert not (train_only / "usps" / "zip.test.gz").exists()
