"""The configuration of one training run: a frozen, typed dataclass.

Defaults are the anchor reproduction's (docs/reference.md, "The anchor reproduction"): the 1989 net
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

HEADS = ("tanh", "linear")
OPTIMIZERS = ("sgd", "adamw", "sdlm")
SCHEDULES = ("constant", "linear", "lenet5")
MSE_NORMS = ("mean", "half-sum", "sum")
# Each normalisation's factor c in d loss / d out = c (out - y), which is also d2 loss / d out2
# (sdlm's Gauss-Newton start): mean over the 10 outputs 2/10 (the anchor's), 1/2 sum 1, sum 2.
# (For plain SGD a factor is a rescaled lr; for sdlm, eps / (mu + c h) c g = eps / (mu / c + h) g:
# a rescaled mu.)
MSE_FACTOR = {"mean": 2.0 / 10, "half-sum": 1.0, "sum": 2.0}
from . import activations  # noqa: E402  (plain Python and numba, no torch)
from .datasets import NAMES as DATASETS  # noqa: E402  (plain Python, no torch)
from . import geometry  # noqa: E402  (plain Python, no torch)
from .geometry import H2_SCHEMES, INITS  # noqa: E402  (plain Python, no torch)
from .published import LADDER  # noqa: E402  (plain Python, no torch)

ACTIVATIONS = activations.NAMES
ENGINES = ("fast", "torch", "lockstep")
RNGS = ("ours", "anchor")

# The learning rate an optimizer gets when none is given (the CLI's --lr default):
# sgd: the anchor's 0.03; adamw: the anchor's modern 3e-4; sdlm: eps 3e-4 with mu 0.02, chosen by
# scripts/sdlm_sweep.py on mnist1989's training digits (6291 train / last 1000 validate,
# 23 passes, 2 seeds; docs/paper.md) - mu 0.02 is LeNet-5's (LeCun et al. 1998).
DEFAULT_LR = {"sgd": 0.03, "adamw": 3e-4, "sdlm": 3e-4}


class ConfigError(ValueError):
    """An invalid configuration value; the message is one line meant for the user."""


@dataclass(frozen=True)
class Config:
    """One run. Field comments give the meaning; defaults are the anchor's 1989 run."""

    data: str = "mnist1989"          # data set name, one of DATASETS
    train_size: int = 0              # number of training digits used (0 = the whole split)
    activation: str = "tanh"         # hidden units: a name in activations.REGISTRY (tanh | relu | scaled-tanh ...)
    head: str = "tanh"               # tanh (MSE on +-1 targets) | linear (softmax cross-entropy)
    dropout: float = 0.0             # dropout probability on the 192 H2 outputs, before H3
    optimizer: str = "sgd"           # sgd | adamw (torch defaults but lr) | sdlm (the paper's diagonal Newton)
    lr: float = 0.03                 # learning rate (the first pass's, under a schedule)
    schedule: str = "constant"       # constant | linear (lr down to lr/3 over the passes)
    shift: bool = False              # per-example shift in {-1,0,1} on both axes, with wrap-around
    passes: int = 23                 # passes over the training digits
    seed: int = 1337                 # seeds init, dropout masks and shifts
    rng: str = "ours"                # ours: shifts/masks from a stream per (seed, pass) | anchor: drawn as the anchor's scripts draw them
    stop_after: int = 0              # train only the first K passes of the schedule over `passes` (0 = all)
    # sdlm only (stochastic diagonal Levenberg-Marquardt; lr is its eps): step eps / (mu + h_kk)
    sdlm_mu: float = 0.02            # mu, LeCun et al. 1998 (LeNet-5)
    sdlm_sample: int = 500           # examples for the Hessian-diagonal estimate before each pass
    sdlm_running: float = 0.0        # > 0: also keep h as a running average, h <- (1-g) h + g h_example
    # what the paper leaves unsaid (docs/paper.md): each default is the anchor's reading, so that
    # a0 stays the anchor's run; `lecun1989 hunt` searches the alternatives
    h2_scheme: str = "anchor"        # H2 connection table: anchor (blocks) | lenet5 (C3-style) | random (h2_seed)
    h2_seed: int = 0                 # the seed of the random H2 table
    target: float = 1.0              # tanh head: targets +target for the class, -target elsewhere
    mse_norm: str = "mean"           # tanh head: the training loss, mean over the 10 outputs | half-sum | sum
    init: str = "sqrt"               # weights U(+-2.4/sqrt(F)) | fanin: U(+-2.4/F)
    # the net's widths (docs/size.md): the paper's 12/12/30 by default; multiples of 12, 12 and 6
    # (geometry.WIDTH_STEP); the H2 table scales with them (every H2 map sees 2/3 of the H1 maps)
    h1_maps: int = 12                # H1 feature maps: the paper's 12; more = more first-layer features
    h2_maps: int = 12                # H2 feature maps: the paper's 12; more = more second-layer features
    h3_units: int = 30               # H3 units: the paper's 30; more = a wider classifier layer

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
        _choice("rng", self.rng, RNGS)
        _choice("h2_scheme", self.h2_scheme, H2_SCHEMES)
        _choice("mse_norm", self.mse_norm, MSE_NORMS)
        _choice("init", self.init, INITS)
        top = activations.head_of(self.activation).top
        if not (math.isfinite(self.target) and 0 < self.target <= top):
            raise ConfigError(f"target must be in (0, {top:g}] (the head's range), got {self.target!r}")
        if self.head != "tanh" and (self.target != 1.0 or self.mse_norm != "mean"):
            raise ConfigError("target and mse_norm apply to the tanh head (MSE) only")
        problem = (geometry.width_problem(self.h1_maps, self.h2_maps, self.h3_units)
                   or geometry.scheme_problem(self.h2_scheme, self.h1_maps, self.h2_maps))
        if problem:
            raise ConfigError(problem)
        if self.h2_seed < 0:
            raise ConfigError(f"h2_seed must be >= 0, got {self.h2_seed}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if not (0.0 <= self.dropout < 1.0):
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.passes < 1:
            raise ConfigError(f"passes must be at least 1, got {self.passes}")
        if not (0 <= self.stop_after <= self.passes):
            raise ConfigError(f"stop_after must be in [0, passes = {self.passes}] (0 = all passes), got {self.stop_after}")
        if self.train_size < 0:
            raise ConfigError(f"train_size must be >= 0 (0 = all), got {self.train_size}")
        if not (math.isfinite(self.sdlm_mu) and self.sdlm_mu > 0):
            raise ConfigError(f"sdlm_mu must be a positive number, got {self.sdlm_mu!r}")
        if self.sdlm_sample < 1:
            raise ConfigError(f"sdlm_sample must be at least 1, got {self.sdlm_sample}")
        if not (0.0 <= self.sdlm_running < 1.0):
            raise ConfigError(f"sdlm_running must be in [0, 1), got {self.sdlm_running!r}")
        if not (0 <= self.seed < 2**32):
            raise ConfigError(f"seed must be in [0, 2**32), got {self.seed}")

    # -- derived --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def geometry(self) -> "geometry.Geometry":
        """The net's shapes and counts (geometry.of)."""
        return geometry.of(self)

    @property
    def last_pass(self) -> int:
        """The number of passes this run trains: `stop_after` if set, else `passes`."""
        return self.stop_after or self.passes

    def hash(self) -> str:
        """A short stable hash of the config (seed included): names a run's folder.

        It covers the fields that differ from their defaults (and the seed), so that a field
        added later with a default that keeps the old behaviour leaves every earlier run's
        name, and hence the run store, valid."""
        default = Config.__dataclass_fields__
        d = {k: v for k, v in self.to_dict().items() if k == "seed" or v != default[k].default}
        blob = json.dumps(d, sort_keys=True).encode()
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
    (a = 0 for a single pass). `lenet5` is LeNet-5's decreasing eps (LeCun et al. 1998: 0.0005
    for 2 passes, 0.0002 for 3, 0.0001 for 3, 0.00005 for 4, then 0.00001), relative to lr.
    """
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "lenet5":
        return cfg.lr * lenet5_factor(pass_index)
    a = pass_index / (cfg.passes - 1) if cfg.passes > 1 else 0.0
    return (1.0 - a) * cfg.lr + a * (cfg.lr / 3.0)


# LeNet-5's eps schedule as (passes, factor of the first eps) steps; the last factor stays
LENET5_STEPS = ((2, 1.0), (3, 0.4), (3, 0.2), (4, 0.1), (0, 0.02))


def lenet5_factor(pass_index: int) -> float:
    end = 0
    for count, factor in LENET5_STEPS[:-1]:
        end += count
        if pass_index < end:
            return factor
    return LENET5_STEPS[-1][1]


# =============================================================================================
# Presets: the published modernisation ladders (docs/reference.md), one named step each
# =============================================================================================
# Each step is a small override of the step it builds on (`base`), with a one-line reason. The
# published figures are published.LADDER's (docs/reference.md): the anchor's table for a*, the
# learner's for l*, the anchor's rows 5 and 6 for d*, the 1989 paper's own (on its USPS digits) for
# every p*.
# A step's seed is the anchor's 1337; a ladder replaces it.

LADDER_NAMES = ("anchor", "learner", "data", "paper", "size")
# `ladder all` runs these (the size ladder's wide nets take most of an hour per seed-set: run it by name)
ALL_LADDERS = ("anchor", "learner", "data", "paper")
# The size ladder's widths: the paper's net (x1) and every width doubled (x2) and quadrupled (x4)
# (docs/size.md); H2's table is scaled with them (geometry.Geometry.h2_blocks)
SIZE_FACTORS = (1, 2, 4)


@dataclass(frozen=True)
class Preset:
    name: str                        # "a0"
    ladder: str                      # one of LADDER_NAMES (or "custom": an ad-hoc step)
    change: str                      # one line: what changes vs the previous step
    why: str                         # one line: why
    config: Config                   # the full run config (seed 1337; the ladder replaces the seed)
    report_passes: tuple[int, ...]   # passes at which the table reports (last = config.passes)
    published: dict                  # published figures, flat; multi-pass steps: {"source", "by_pass": {pass: {...}}}
    base: str = ""                   # the step this one changes ("" = none): the delta column compares with it

    def __post_init__(self) -> None:
        rp = self.report_passes
        if not rp or list(rp) != sorted(set(rp)) or rp[-1] != self.config.last_pass or rp[0] < 1:
            raise ConfigError(f"preset {self.name}: report_passes must increase and end at the last pass trained")

    def published_at(self, pass_number: int) -> dict:
        """The published figures that apply at `pass_number` ({} if none)."""
        pub = self.published
        if not pub:
            return {}
        if "by_pass" in pub:
            fig = pub["by_pass"].get(pass_number)
            return {"source": pub["source"], "pass": pass_number, **fig} if fig else {}
        return dict(pub) if pub.get("pass", self.config.passes) == pass_number else {}


# p4: the best validated reading of what the paper leaves unsaid - trial 104 of `lecun1989 hunt`
# (docs/paper.md, "The hunt"; docs/data/hunt/confirm.json: 1.94% mean validation error over its 3
# search and 5 fresh seeds, against 2.90% for p2's reading on the fresh seeds), rounded to 3
# significant digits. Chosen on the last 1000 USPS training digits; zip.test was not read.
HUNT_P4 = dict(h2_scheme="lenet5", target=1.48, lr=5.22e-5, schedule="constant", sdlm_mu=3.65e-3,
               sdlm_sample=500, sdlm_running=0.001, init="fanin")


def _step(name: str, ladder: str, change: str, why: str, cfg: Config, report_passes: tuple[int, ...],
          base: str = "") -> Preset:
    """A ladder step with its published figures (published.LADDER)."""
    return Preset(name, ladder, change, why, cfg, report_passes, LADDER[name], base)


def _presets() -> dict[str, Preset]:
    base = Config()                                              # the anchor's 1989 run
    modern_opt = dict(optimizer="adamw", lr=3e-4)                # AdamW at the anchor's modern lr
    a0 = base
    a1 = a0.with_overrides(head="linear", lr=0.01)
    a2 = a1.with_overrides(**modern_opt, schedule="linear", passes=46)
    a3 = a2.with_overrides(shift=True, passes=60)
    a4 = a3.with_overrides(dropout=0.25, activation="relu", passes=80)
    l0 = a0.with_overrides(data="mnist1989-test-first")
    l1 = l0.with_overrides(activation="relu")
    l2 = l1.with_overrides(**modern_opt, head="linear")
    l3 = l2.with_overrides(schedule="linear")
    l4 = l3.with_overrides(dropout=0.25)
    l5 = l3.with_overrides(shift=True)
    l5b = l5.with_overrides(dropout=0.25)
    l6a = l0.with_overrides(passes=80)
    l6b = l5b.with_overrides(passes=80)
    mnist50k = dict(data="mnist", train_size=50_000)           # a seeded 50,000 of MNIST's 60,000
    d5 = a4.with_overrides(**mnist50k)
    d6 = a0.with_overrides(**mnist50k, passes=100)
    # the paper's ingredients: its data (USPS), its units and its diagonal Newton optimizer
    paper_opt = dict(activation="scaled-tanh", optimizer="sdlm", lr=DEFAULT_LR["sdlm"], sdlm_mu=0.02)
    p0 = a0
    p1 = p0.with_overrides(data="usps")
    p2 = p1.with_overrides(**paper_opt)
    p3 = p0.with_overrides(**paper_opt)
    p4 = p2.with_overrides(**HUNT_P4)
    A, L, D, P = "anchor", "learner", "data", "paper"
    steps = [
        _step("a0", A, "1989 baseline: tanh, tanh head + MSE, SGD lr 0.03",
              "the paper's net and loss as the anchor reproduces them", a0, (23,)),
        _step("a1", A, "linear head + softmax cross-entropy, SGD lr 0.01",
              "a classifier's loss instead of regression onto +-1", a1, (23,), base="a0"),
        _step("a2", A, "AdamW lr 3e-4, linear decay to 1e-4, 46 passes",
              "an adaptive optimizer and a decaying rate, trained twice as long", a2, (46,), base="a1"),
        _step("a3", A, "+ shift augmentation (1 px in x and y), 60 passes",
              "more varied training digits against overfitting", a3, (60,), base="a2"),
        _step("a4", A, "+ dropout 0.25 before H3, tanh -> ReLU, 80 passes",
              "the anchor's 'modern' run: regularise and use non-saturating units", a4, (80,), base="a3"),
        _step("l0", L, "baseline on the learner's data order (a0 on mnist1989-test-first)",
              "the anchor script on this order gives the learner's baseline misses", l0, (23,), base="a0"),
        _step("l1", L, "tanh -> ReLU in hidden layers (output keeps tanh + MSE)",
              "non-saturating hidden units", l1, (23,), base="l0"),
        _step("l2", L, "SGD -> AdamW lr 3e-4, linear head + cross-entropy",
              "the learner ran the anchor's modern script, which has that head", l2, (23,), base="l1"),
        _step("l3", L, "lr decayed linearly 3e-4 -> 1e-4",
              "smaller steps late in training settle the weights", l3, (23,), base="l2"),
        _step("l4", L, "l3 + dropout 0.25 before H3",
              "regularise the 192 -> 30 layer, the one with most weights", l4, (23,), base="l3"),
        _step("l5", L, "l3 + shift augmentation (no dropout)",
              "more varied training digits against overfitting", l5, (23,), base="l3"),
        _step("l5b", L, "l5 + dropout 0.25",
              "both regularisers together", l5b, (23,), base="l5"),
        _step("l6a", L, "l0 for 80 passes",
              "does the weak 1989 model improve with more passes?", l6a, (23, 57, 80), base="l0"),
        _step("l6b", L, "l5b for 80 passes (schedule over 80)",
              "does the regularised model improve with more passes?", l6b, (23, 57, 71, 80), base="l5b"),
        _step("d5", D, "a4 on a seeded 50,000 MNIST training digits, 80 passes",
              "how much does seven times more data give the modern recipe?", d5, (80,), base="a4"),
        _step("d6", D, "a0 on the same 50,000 digits, 100 passes",
              "how much does more data give the 1989 recipe?", d6, (100,), base="a0"),
        _step("p0", P, "the anchor's 1989 run on mnist1989 (= a0)",
              "the starting point: the paper's net, MSE on +-1, plain SGD, on simulated digits", p0, (23,)),
        _step("p1", P, "p0 on usps (the ESL zip-code digits: 7291 / 2007)",
              "the paper's own split of the real zip-code digits instead of downsampled MNIST", p1, (23,), base="p0"),
        _step("p2", P, "p1 + scaled tanh + sdlm (eps 3e-4, mu 0.02)",
              "the paper's units and its diagonal-Hessian Newton method", p2, (23,), base="p1"),
        _step("p3", P, "p0 + scaled tanh + sdlm (p2 on mnist1989)",
              "the paper's method on the simulated digits: data and method effects apart", p3, (23,), base="p0"),
        _step("p4", P, "p2 + the hunt's reading of the unknowns (lenet5 H2 table, targets +-1.48, "
              "eps 5.22e-5, mu 3.65e-3, running 0.001, init 2.4/F)",
              "the paper's unknowns chosen on validation digits only (lecun1989 hunt)", p4, (23,), base="p2"),
    ]
    # the size ladder: a0's and a4's recipes at each width of SIZE_FACTORS (s1, s2, s4 and s1a4,
    # s2a4, s4a4), and between s1 and s1a4 the anchor ladder's steps a1-a3 at the paper's width
    # (s1a1-s1a3): the training tricks, which cost nothing at inference. Each step's base is the
    # step before it on its path: the same recipe at the previous width, or the previous trick.
    # s1 is a0 and s1a1-s1a4 are a1-a4 (the same configs: the same runs, the same hashes).
    S = "size"
    tricks = {"a1": a1, "a2": a2, "a3": a3}
    by_name = {p.name: p for p in steps}
    for recipe, cfg, tag in (("1989", a0, ""), ("modern", a4, "a4")):
        prev = "s1" if tag else ""
        for k in SIZE_FACTORS:
            name = f"s{k}{tag}"
            if k == 1 and tag:
                for t, tcfg in tricks.items():
                    steps.append(Preset(f"s1{t}", S, f"{t}: {by_name[t].change}", by_name[t].why, tcfg,
                                        by_name[t].report_passes, LADDER[t], prev))
                    prev = f"s1{t}"
            g = dict(h1_maps=12 * k, h2_maps=12 * k, h3_units=30 * k)
            pub = "a4" if tag else "a0"
            what = "the paper's widths 12/12/30" if k == 1 else f"widths x{k}: {12 * k}/{12 * k}/{30 * k}"
            why = ("the starting point: the paper's net" if k == 1 and not tag else
                   by_name["a4"].why if k == 1 else
                   "what doubling the widths (H1 and H2 maps, H3 units) buys" if k == 2 else
                   f"what doubling them again (x{k}) buys")
            steps.append(Preset(name, S, f"{pub}'s {recipe} recipe, {what}", why, cfg.with_overrides(**g),
                                (cfg.passes,), LADDER[pub] if k == 1 else {}, prev))
            prev = name
    return {p.name: p for p in steps}


PRESETS: dict[str, Preset] = _presets()
LADDERS: dict[str, tuple[str, ...]] = {
    name: tuple(p.name for p in PRESETS.values() if p.ladder == name) for name in LADDER_NAMES
}


def preset(name: str) -> Preset:
    """The named ladder step; ConfigError (listing the known names) for an unknown one."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})") from None
