"""The shipped nets: they load, they are the presets they claim to be, and their test error on
mnist1989 is the figure stored beside them."""

from __future__ import annotations

import shutil

import pytest
import torch

import lecun1989
from lecun1989 import metrics, pretrained, train
from lecun1989.config import Config, preset
from lecun1989.model import PAPER_COUNTS, Net1989


@pytest.fixture(scope="module")
def mnist1989():
    return train.load_data(Config())


@pytest.mark.parametrize("name", list(pretrained.PRETRAINED))
def test_shipped_net_matches_its_stored_figures(name, mnist1989):
    net = lecun1989.load_pretrained(name)
    assert isinstance(net, Net1989) and not net.training
    assert sum(p.numel() for p in net.parameters()) == PAPER_COUNTS["parameters"]
    info = pretrained.info(name)
    cfg = net.train_config
    assert info["data"] == cfg.data == "mnist1989"
    for split in ("train", "test"):
        s = getattr(mnist1989, split)
        with torch.no_grad():
            got = metrics.summarize(net(s.x), s.y, cfg.head)
        assert got["misses"] == info[split]["misses"], split
        assert got["n"] == info[split]["n"] == len(s)
        assert got["error"] == pytest.approx(info[split]["error"], abs=0)
        assert got["loss"] == pytest.approx(info[split]["loss"], rel=1e-5)
        if "reject_1pct" in info[split]:
            assert got["reject_1pct"] == pytest.approx(info[split]["reject_1pct"], abs=0)
    assert pretrained.weights_sha256(net.state_dict()) == info["weights_sha256"]


@pytest.mark.parametrize("name", list(pretrained.PRETRAINED))
def test_shipped_net_is_its_preset(name):
    spec = pretrained.PRETRAINED[name]
    info = pretrained.info(name)
    want = preset(spec["preset"]).config.with_overrides(seed=spec["seed"])
    # Compared as Config objects: fields added to Config later take their defaults on both sides
    # (the stored hash is of the config as it was when the net was trained).
    assert Config.from_dict(info["config"]) == want
    assert info["engine"] in ("fast", "torch") and info["provenance"]["torch"]


def test_modern_beats_1989():
    assert pretrained.info("modern")["test"]["misses"] < pretrained.info("1989")["test"]["misses"]


def test_unknown_name():
    with pytest.raises(pretrained.PretrainedError, match="choose one of 1989, modern"):
        lecun1989.load_pretrained("1990")


def test_checksum_is_checked(tmp_path, monkeypatch):
    for f in pretrained.folder().iterdir():
        shutil.copy(f, tmp_path / f.name)
    blob = bytearray((tmp_path / "1989.pt").read_bytes())
    blob[-100] ^= 0xFF
    (tmp_path / "1989.pt").write_bytes(bytes(blob))
    monkeypatch.setattr(pretrained, "folder", lambda: tmp_path)
    with pytest.raises(pretrained.PretrainedError, match="sha256"):
        pretrained.load_pretrained("1989")
    (tmp_path / "modern.pt").unlink()
    with pytest.raises(pretrained.PretrainedError, match="missing"):
        pretrained.load_pretrained("modern")


def test_shipped_files_are_small():
    for f in pretrained.folder().iterdir():
        assert f.stat().st_size < 100_000, f
