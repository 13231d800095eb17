"""The configuration of one training run: a frozen, typed dataclass.

Defaults are the anchor reproduction's (REFERENCE.md, "The anchor reproduction"): the 1989 net
with tanh units, a tanh head trained with MSE on +-1 targets, plain SGD at lr 0.03, batch of one,
constant order, 23 passes, seed 1337, on the simulated 1989 data (train-first order).

Overrides are checked for key *and* type (`Config.with_overrides`), and every value is checked
for range when the object is made, so a bad option fails before any work starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, fields
from typing import Any

ACTIVATIONS = ("tanh", "relu", "scaled-tanh")
HEADS = ("tanh", "linear")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "linear")
DATASETS = ("mnist1989", "mnist1989-test-first", "usps", "mnist")
ENGINES = ("fast", "torch")


class ConfigError(ValueError):
    """An invalid configuration value; the message is one line meant for the user."""


@dataclass(frozen=True)
class Config:
    """One run. Field comments give the meaning; defaults are the anchor's 1989 run."""

    data: str = "mnist1989"          # data set name, one of DATASETS
    train_size: int = 0              # number of training digits used (0 = the whole split)
    activation: str = "tanh"         # hidden units: tanh | relu | scaled-tanh (1.7159 tanh(2a/3))
    head: str = "tanh"               # tanh (MSE on +-1 targets) | linear (softmax cross-entropy)
    dropout: float = 0.0             # dropout probability on the 192 H2 outputs, before H3
    optimizer: str = "sgd"           # sgd | adamw (torch defaults for everything but lr)
    lr: float = 0.03                 # learning rate (the first pass's, under a schedule)
    schedule: str = "constant"       # constant | linear (lr down to lr/3 over the passes)
    shift: bool = False              # per-example shift in {-1,0,1} on both axes, with wrap-around
    passes: int = 23                 # passes over the training digits
    seed: int = 1337                 # seeds init, dropout masks and shifts

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            want = {"str": str, "int": int, "float": float, "bool": bool}[f.type]
            ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
                ok = True
            if not ok:
                raise ConfigError(f"{f.name} must be {f.type}, got {type(value).__name__} {value!r}")
        _choice("data", self.data, DATASETS)
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("head", self.head, HEADS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if not (0.0 <= self.dropout < 1.0):
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.passes < 1:
            raise ConfigError(f"passes must be at least 1, got {self.passes}")
        if self.train_size < 0:
            raise ConfigError(f"train_size must be >= 0 (0 = all), got {self.train_size}")
        if not (0 <= self.seed < 2**32):
            raise ConfigError(f"seed must be in [0, 2**32), got {self.seed}")

    # -- derived --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """A short stable hash of every field (seed included): names a run's folder."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def with_overrides(self, **overrides: Any) -> "Config":
        """A copy with some fields replaced; unknown keys and wrong types are errors."""
        names = {f.name for f in fields(self)}
        for key in overrides:
            if key not in names:
                raise ConfigError(f"unknown config key {key!r} (known: {', '.join(sorted(names))})")
        return dataclasses.replace(self, **overrides)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        return cls().with_overrides(**d)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def lr_at(cfg: Config, pass_index: int) -> float:
    """Learning rate for pass `pass_index` (0-based).

    `linear` follows the anchor's modern script: lr_p = (1 - a) lr + a lr / 3, a = p / (passes - 1)
    (a = 0 for a single pass).
    """
    if cfg.schedule == "constant":
        return cfg.lr
    a = pass_index / (cfg.passes - 1) if cfg.passes > 1 else 0.0
    return (1.0 - a) * cfg.lr + a * (cfg.lr / 3.0)
