"""The pretrained nets shipped with the package: the 1989 net and the modern net.

    name      preset  seed  what
    "1989"    a0      1337  the faithful 1989 net (tanh, MSE on +-1 targets, SGD, 23 passes)
    "modern"  a4      1337  the modernised net (ReLU, softmax, AdamW, shifts, dropout, 80 passes)

Both were trained on the embedded simulated 1989 set (mnist1989) by the project's own engine;
`scripts/train_pretrained.py` retrains them from their presets and rewrites the files. Each net
is two small files in ``_pretrained/``: ``<name>.pt``, a checkpoint in the package's one weight
format ({"state_dict", "config"}, loadable with `store.load_checkpoint`), and ``<name>.json``,
how it was made (preset, seed, engine, config and its hash, data set, versions, the sha256 of the
.pt) and its figures: train and test error, misses and loss of the shipped weights evaluated by
`model.Net1989` (tests/test_pretrained.py checks these against a fresh evaluation).
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from .config import Config
from .model import Net1989

PRETRAINED = {
    "1989": {"preset": "a0", "seed": 1337, "what": "the faithful 1989 net"},
    "modern": {"preset": "a4", "seed": 1337, "what": "the modernised net (ladder step a4)"},
}
PACKAGE_FOLDER = "_pretrained"


class PretrainedError(ValueError):
    """An unknown pretrained name, or shipped files that are missing or do not match."""


def folder() -> Path:
    """The folder of shipped weights inside the installed package."""
    return Path(str(resources.files("lecun1989"))) / PACKAGE_FOLDER


def paths(name: str) -> tuple[Path, Path]:
    """(checkpoint .pt, info .json) of a pretrained net."""
    if name not in PRETRAINED:
        raise PretrainedError(f"unknown pretrained net {name!r}; choose one of {', '.join(PRETRAINED)}")
    base = folder()
    return base / f"{name}.pt", base / f"{name}.json"


def info(name: str) -> dict:
    """The record stored beside the weights: how they were made and their test figures."""
    _, info_path = paths(name)
    try:
        return json.loads(info_path.read_text())
    except FileNotFoundError:
        raise PretrainedError(f"{info_path} is missing; run scripts/train_pretrained.py") from None


def weights_sha256(state: dict) -> str:
    """sha256 of the weights alone (name, shape and float32 bytes of each tensor, in the model's
    order): equal for two trainings that give the same numbers, whatever torch.save's container
    or fields added to Config later look like. scripts/train_pretrained.py stores it."""
    import torch

    from .model import PARAM_SHAPES

    h = hashlib.sha256()
    for name in PARAM_SHAPES:
        t = state[name].detach().cpu().contiguous().to(torch.float32)
        h.update(f"{name}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def load_pretrained(name: str = "modern") -> Net1989:
    """A ready Net1989 in eval mode: `load_pretrained("1989")` or `load_pretrained("modern")`.

    The checkpoint is checked against the sha256 stored in its .json before it is loaded; the
    config it was trained with is `net.train_config` (a `Config`)."""
    net, _ = load_pretrained_with_config(name)
    return net


def load_pretrained_with_config(name: str) -> tuple[Net1989, Config]:
    from .store import load_checkpoint
    pt, _ = paths(name)
    meta = info(name)
    try:
        blob = pt.read_bytes()
    except FileNotFoundError:
        raise PretrainedError(f"{pt} is missing; run scripts/train_pretrained.py") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != meta.get("checkpoint_sha256"):
        raise PretrainedError(f"{pt}: sha256 {digest} does not match the {meta.get('checkpoint_sha256')} "
                              f"stored in {pt.with_suffix('.json').name}; reinstall the package or rerun "
                              "scripts/train_pretrained.py")
    net, cfg = load_checkpoint(pt)
    net.train_config = cfg
    net.eval()
    return net, cfg
