"""A run's inputs before any engine: its random streams per pass (shifts, dropout masks, the
sdlm sample), its training and test splits, and the record of what it gives (RunResult). Every
engine reads them from here - the reference loop and the fast engine through train.run, the
lockstep engine's groups directly - so that all consume exactly the same randomness and digits."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import datasets
from .config import Config, ConfigError
from .data import load_data
from .model import H2_SIDE, Net1989
from .store import net_config


# -- the per-run random streams ----------------------------------------------------------------
# Two families, chosen by Config.rng. Both hand each pass's shifts and dropout masks to the engine
# as arrays, so the fast engine and the reference loop consume exactly the same randomness.
#   ours:   a stream derived from (seed, pass): any pass can be drawn on its own, shifts and masks
#           come from separate child streams (adding dropout does not change the shifts).
#   anchor: the anchor's scripts' streams (docs/reference.md): after torch.manual_seed(seed) and
#           np.random.seed(seed), the initial weights from torch's generator, then per training
#           example the shift as np.random.randint(-1, 2, size=2) from numpy's legacy stream and
#           the dropout mask as F.dropout draws it from torch's generator, both streams running on
#           across passes. They are private generators here, so that nothing else in the process
#           (evaluation, progress bars, data loading) can consume them in between.
def pass_randomness(cfg: Config, pass_index: int, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Shifts and dropout masks for one pass from the `ours` stream of (seed, pass).

    shifts: (n, 2) int64 in {-1, 0, 1} - (rows, columns) roll of each example, or None.
    masks:  (n, 192) float32, 0 or 1/(1-p) - inverted dropout on the H2 outputs, or None.
    """
    s_shift, s_drop = _pass_streams(cfg, pass_index)[:2]
    shifts = masks = None
    if cfg.shift:
        shifts = np.random.default_rng(s_shift).integers(-1, 2, size=(n, 2))
    if cfg.dropout > 0:
        keep = np.random.default_rng(s_drop).random((n, cfg.geometry.h2_units)) >= cfg.dropout
        masks = keep.astype(np.float32) * np.float32(1.0 / (1.0 - cfg.dropout))
    return shifts, masks


class OurStreams:
    """rng = ours: the initial weights after torch.manual_seed(seed), each pass from pass_randomness."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def model(self) -> Net1989:
        return Net1989(net_config(self.cfg), seed=self.cfg.seed)

    def next_pass(self, pass_index: int, n: int):
        return pass_randomness(self.cfg, pass_index, n)


class AnchorStreams:
    """rng = anchor: the anchor scripts' two global streams, as private generators drawn in the
    scripts' order. Stateful: passes must be drawn in order, each exactly once."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.torch = torch.Generator().manual_seed(cfg.seed)     # torch.manual_seed(seed)
        self.numpy = np.random.RandomState(cfg.seed)             # np.random.seed(seed)
        self._next = 0

    def model(self) -> Net1989:
        """The initial weights: the first draws of torch's stream (the model is built first)."""
        if self._next:
            raise RuntimeError("the model must be drawn before the first pass")
        return Net1989(net_config(self.cfg), generator=self.torch)

    def next_pass(self, pass_index: int, n: int):
        if pass_index != self._next:
            raise RuntimeError(f"anchor streams are drawn pass after pass: expected pass {self._next}, got {pass_index}")
        self._next += 1
        cfg, shifts, masks = self.cfg, None, None
        if cfg.shift:
            # the anchor draws size=2 per example; one draw of (n, 2) gives the same numbers
            # (legacy randint takes one 32-bit output per value; tests/test_train.py checks it)
            shifts = self.numpy.randint(-1, 2, size=(n, 2))
        if cfg.dropout > 0:
            # F.dropout on the (1, 12, 4, 4) H2 output, on the CPU: noise = empty_like(x),
            # noise.bernoulli_(1 - p), noise.div_(1 - p), x * noise. Drawn one example at a time
            # because bernoulli_ takes its randomness per call, not per element.
            # (Each example's noise is filled in place in one (n, 12, 4, 4) tensor, and the division
            # done once for all: the same elementwise kernels, a fifth of the time.)
            q = 1.0 - cfg.dropout
            noise = torch.empty((n, cfg.h2_maps, H2_SIDE, H2_SIDE))
            for i in range(n):
                noise[i].bernoulli_(q, generator=self.torch)
            masks = noise.div_(q).reshape(n, cfg.geometry.h2_units).numpy()
        return shifts, masks


def make_streams(cfg: Config) -> OurStreams | AnchorStreams:
    return AnchorStreams(cfg) if cfg.rng == "anchor" else OurStreams(cfg)


def _pass_streams(cfg: Config, pass_index: int) -> list[np.random.SeedSequence]:
    # children: 0 shifts, 1 dropout masks, 2 the sdlm estimation sample
    return np.random.SeedSequence([cfg.seed, pass_index, 1989]).spawn(3)


def sdlm_sample(cfg: Config, pass_index: int, n: int) -> np.ndarray:
    """Sorted indices of the training digits on which sdlm estimates its Hessian diagonal
    before pass `pass_index` (a fresh draw of `sdlm_sample` digits each pass; from the `ours`
    stream whatever Config.rng says: the anchor's scripts have no sdlm)."""
    rng = np.random.default_rng(_pass_streams(cfg, pass_index)[2])
    return np.sort(rng.choice(n, size=min(cfg.sdlm_sample, n), replace=False))


# -- the splits and the result of a run -------------------------------------------------------
@dataclass
class RunResult:
    config: Config
    engine: str
    records: list[dict] = field(default_factory=list)     # one per pass and split
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    diverged_at: int | None = None                        # pass (1-based) where the loss went NaN/inf
    seconds: float = 0.0

    def final(self, split: str) -> dict:
        return [r for r in self.records if r["split"] == split][-1]


def check_train_size(cfg: Config) -> None:
    """ConfigError (before any work) if `train_size` asks for more digits than the data set's
    training split has (its entry's train_size: 7291 for mnist1989 and usps, 60,000 for mnist)."""
    have = datasets.get(cfg.data).train_size
    if cfg.train_size > have:
        raise ConfigError(f"train_size {cfg.train_size} exceeds the {have:,} training digits of {cfg.data} "
                          f"(--train-size 0 uses them all)")


def training_split(cfg: Config, data):
    """The training digits a run uses: the first `train_size` of the split (all if 0).
    (For a set whose entry draws a seeded subset, mnist, load_dataset already drew it.)"""
    x, y = data.train.x, data.train.y
    x = torch.as_tensor(x, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.int64)
    if cfg.train_size and datasets.get(cfg.data).subset == "first":
        if cfg.train_size > x.shape[0]:
            raise ConfigError(f"train_size {cfg.train_size} exceeds the {x.shape[0]} training digits of {cfg.data}")
        x, y = x[:cfg.train_size], y[:cfg.train_size]
    return x, y


def run_splits(cfg: Config, data=None, data_root=None):
    """(train images, train labels, test images, test labels) as tensors for a run of `cfg`: the
    training split it uses (`training_split`) and the whole test split; data loaded if not given."""
    if data is None:
        data = load_data(cfg, data_root)
    xtr, ytr = training_split(cfg, data)
    return (xtr, ytr, torch.as_tensor(data.test.x, dtype=torch.float32),
            torch.as_tensor(data.test.y, dtype=torch.int64))
