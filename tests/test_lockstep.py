"""The lockstep engine (the lockstep package): each lane against the reference engine, and each lane's
numbers independent of K and of its neighbours.

Each lane starts from its own seed's initial weights and consumes its own seed's random stream
(train.pass_randomness / AnchorStreams of cfg with that seed), so after a short run its weights
must agree with train.TorchEngine's for that seed to float32 rounding noise, as the fast engine
does (tests/test_fast.py); and since no lane's arithmetic depends on another's, a run's numbers
must be the same bit for bit in any group and for any K.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lecun1989 import activations, lockstep
from lecun1989.lanevec import width_tag
from lecun1989.config import Config
from lecun1989.model import Net1989
from lecun1989.train import AnchorStreams, TorchEngine, net_config, pass_randomness, run, run_group, sdlm_sample

from test_fast import N_SHORT, SDLM, TOL, _digits, _lr  # the fast engine's short-run cases


COMBOS = list(itertools.product(activations.NAMES, ("tanh", "linear"),
                                ("sgd", "adamw", "sdlm", "sdlm-running"), (0.0, 0.25), (False, True)))


def _combo(activation, head, optimizer, dropout, shift, **more) -> Config:
    extra = {}
    if optimizer.startswith("sdlm"):
        extra = dict(SDLM, sdlm_running=0.05 if optimizer == "sdlm-running" else 0.0)
        optimizer = "sdlm"
    kw = dict(activation=activation, head=head, optimizer=optimizer, dropout=dropout, shift=shift)
    return Config(**kw, **extra, **more, lr=_lr(kw))


def _streams(cfg: Config, seed: int):
    c = cfg.with_overrides(seed=seed)
    if cfg.rng == "anchor":
        s = AnchorStreams(c)
        return s.model(), s.next_pass(0, N_SHORT)
    return Net1989(net_config(c), seed=seed), pass_randomness(c, 0, N_SHORT)


def _train_group(cfg: Config, seeds, x, y, k: int):
    """A lockstep group of `seeds` after one short pass; and each seed's (model, shifts, masks)."""
    parts = [_streams(cfg, s) for s in seeds]
    eng = lockstep.LockstepEngine(cfg, [m for m, _ in parts], k=k)
    if cfg.optimizer == "sdlm":
        eng.estimate_hessian(x, [sdlm_sample(cfg.with_overrides(seed=s), 0, x.shape[0]) for s in seeds])
    eng.train_pass(x, y, cfg.lr, [sm[0] for _, sm in parts], [sm[1] for _, sm in parts])
    return eng


def _reference(cfg: Config, seed: int, x, y) -> TorchEngine:
    model, (shifts, masks) = _streams(cfg, seed)
    c = cfg.with_overrides(seed=seed)
    ref = TorchEngine(c, model)
    if cfg.optimizer == "sdlm":
        ref.estimate_hessian(x[torch.from_numpy(sdlm_sample(c, 0, x.shape[0]))])
    ref.train_pass(x, y, cfg.lr, shifts, masks)
    return ref


def _assert_agree(want: dict, got: dict) -> None:
    scale = max(float(v.abs().max()) for v in want.values())
    for name in want:
        assert got[name].shape == want[name].shape and got[name].dtype == torch.float32
        diff = float((want[name] - got[name]).abs().max())
        assert diff <= TOL * scale, f"{name}: max diff {diff:.3g} > {TOL} x {scale:.3g}"


@pytest.mark.parametrize("activation,head,optimizer,dropout,shift", COMBOS,
                         ids=["-".join(map(str, c)) for c in COMBOS])
def test_a_lane_matches_the_reference(activation, head, optimizer, dropout, shift):
    """Seed 7 in lane 1 of a group of 4 lanes (seed 9 beside it, two padding lanes): its weights
    after 100 examples are the reference's for seed 7 within 1e-5. (Seed 8 is a chaotic start for
    scaled-tanh-tanh-sgd with shifts: the fast engine too differs from the reference by 1.3e-5.)"""
    cfg = _combo(activation, head, optimizer, dropout, shift)
    x, y = _digits(N_SHORT)
    eng = _train_group(cfg, [9, 7], x, y, k=4)
    _assert_agree(_reference(cfg, 7, x, y).state_dict(), eng.state_dicts()[1])


@pytest.mark.parametrize("activation,head,optimizer", [("relu", "linear", "adamw"), ("tanh", "tanh", "sgd"),
                                                       ("scaled-tanh", "tanh", "sdlm-running")])
def test_every_lane_matches_the_reference_with_the_anchor_streams(activation, head, optimizer):
    """Three seeds, each with its own anchor streams (initial weights, shifts and dropout masks
    from its own torch and numpy generators): every lane agrees with its seed's reference."""
    cfg = _combo(activation, head, optimizer, 0.25, True, rng="anchor")
    x, y = _digits(N_SHORT)
    seeds = [7, 8, 9]
    eng = _train_group(cfg, seeds, x, y, k=8)
    for lane, s in enumerate(seeds):
        _assert_agree(_reference(cfg, s, x, y).state_dict(), eng.state_dicts()[lane])


def _random_table_seed() -> int:
    """An h2_seed whose random table has an H1 map read by a number of H2 maps that is not a
    multiple of 4 (the kernels' one-map path)."""
    for s in range(100):
        g = lockstep.h2_groups(lockstep.h2_table("random", s))
        if (g[:, 1] < 4).any():
            return s
    raise AssertionError("no such table")


# The paper's unknowns (issue 16), as tests/test_fast.py checks them: the MSE normalisations scale
# the gradient by 5 or 10, so lr (SGD) and mu (sdlm) are scaled with them to stay out of chaos.
UNKNOWNS = {"h2-lenet5": dict(h2_scheme="lenet5"), "h2-random": dict(h2_scheme="random", h2_seed=_random_table_seed()),
            "target": dict(target=0.8), "half-sum": dict(mse_norm="half-sum"), "sum": dict(mse_norm="sum"),
            "init-fanin": dict(init="fanin")}
UNKNOWN_COMBOS = list(itertools.product(UNKNOWNS, ("sgd", "sdlm", "sdlm-running")))


@pytest.mark.parametrize("switch,optimizer", UNKNOWN_COMBOS, ids=["-".join(c) for c in UNKNOWN_COMBOS])
def test_the_paper_unknowns_match_the_reference(switch, optimizer):
    from lecun1989.config import MSE_FACTOR
    kw = dict(UNKNOWNS[switch])
    k = MSE_FACTOR[kw.get("mse_norm", "mean")] / MSE_FACTOR["mean"]
    if optimizer == "sgd":
        cfg = Config(**kw, lr=0.03 / k, shift=True)
    else:
        cfg = Config(**kw, activation="scaled-tanh", optimizer="sdlm", lr=3e-4, sdlm_sample=50, shift=True,
                     sdlm_mu=0.02 * k, sdlm_running=0.05 if optimizer == "sdlm-running" else 0.0)
    x, y = _digits(N_SHORT)
    eng = _train_group(cfg, [7, 9], x, y, k=4)
    _assert_agree(_reference(cfg, 7, x, y).state_dict(), eng.state_dicts()[0])


@pytest.mark.parametrize("switch", ["h2-lenet5", "h2-random", "init-fanin"])
def test_the_unknowns_with_the_modern_options_match_the_reference(switch):
    cfg = Config(**UNKNOWNS[switch], activation="relu", head="linear", optimizer="adamw", lr=3e-4,
                 dropout=0.25, shift=True)
    x, y = _digits(N_SHORT)
    eng = _train_group(cfg, [9, 7], x, y, k=4)
    _assert_agree(_reference(cfg, 7, x, y).state_dict(), eng.state_dicts()[1])


@pytest.mark.parametrize("activation,head", [("tanh", "tanh"), ("scaled-tanh", "tanh"), ("relu", "linear")])
def test_hessian_diagonal_matches_gn_diagonal_per_lane(activation, head):
    """Each lane's sdlm diagonal over its own sample equals sdlm.gn_diagonal within 1e-5."""
    from lecun1989 import sdlm
    cfg = Config(activation=activation, head=head, optimizer="sdlm", **SDLM)
    models = [Net1989(net_config(cfg), seed=s) for s in (3, 4)]
    eng = lockstep.LockstepEngine(cfg, models, k=4)
    x, _ = _digits(60, seed=5)
    samples = [np.arange(0, 40), np.arange(20, 60)]
    eng.estimate_hessian(x, samples)
    for lane, m in enumerate(models):
        want, got = sdlm.gn_diagonal(m, x[torch.from_numpy(samples[lane])]), eng.hessians()[lane]
        for name in want:
            scale = float(want[name].abs().max())
            assert float((got[name] - want[name]).abs().max()) <= 1e-5 * scale, name


@pytest.mark.parametrize("activation,head", [("tanh", "tanh"), ("relu", "tanh"), ("scaled-tanh", "linear")])
def test_predict_matches_model_forward(activation, head):
    cfg = Config(activation=activation, head=head, dropout=0.25)
    models = [Net1989(net_config(cfg), seed=s) for s in (3, 4, 5)]
    eng = lockstep.LockstepEngine(cfg, models, k=4)
    x, _ = _digits(50, seed=1)
    for m, got in zip(models, eng.predict(x)):
        m.eval()
        with torch.no_grad():
            want = m(x)
        assert got.shape == (50, 10) and float((got - want).abs().max()) <= 1e-5


@pytest.mark.parametrize("activation,head", [("tanh", "tanh"), ("relu", "linear"), ("elu", "tanh")])
def test_prediction_in_blocks_is_prediction_digit_by_digit(activation, head):
    """With 16 lanes the prediction computes H3 for 4 digits at once (forward._predict); 11
    digits are two blocks and a tail of 3. Every digit's outputs must be those of predicting it
    alone (the digit-by-digit path), bit for bit."""
    cfg = Config(activation=activation, head=head)
    eng = lockstep.LockstepEngine(cfg, [Net1989(net_config(cfg), seed=s) for s in range(16)], k=16)
    X = lockstep._images(_digits(11, seed=2)[0])
    together = eng.predict_numpy(X)
    alone = np.concatenate([eng.predict_numpy(X[i:i + 1]) for i in range(len(X))], axis=1)
    assert together.shape == (16, 11, 10)
    assert np.array_equal(together.view(np.uint32), alone.view(np.uint32))


# The determinism rule: a lane's numbers are the same bit for bit whatever K is and whoever
# its neighbours are (seed 1338 alone in 4 lanes; in a group of 5 in 8 lanes; of 5 in 16).
INDEPENDENCE = [("tanh", "tanh", "sgd", 0.25, True), ("relu", "linear", "adamw", 0.25, True),
                ("scaled-tanh", "tanh", "sdlm-running", 0.0, True), ("tanh", "linear", "sdlm", 0.25, False),
                ("elu", "tanh", "sgd", 0.25, True)]


@pytest.mark.parametrize("combo", INDEPENDENCE, ids=["-".join(map(str, c)) for c in INDEPENDENCE])
def test_a_lane_does_not_depend_on_k_or_its_neighbours(combo):
    cfg = _combo(*combo)
    x, y = _digits(N_SHORT, seed=3)
    groups = [([1338], 4), ([1337, 1339, 1340, 1338, 1341], 8), ([1341, 1338, 1342, 1343, 1344], 16)]
    states, outs = [], []
    for seeds, k in groups:
        eng = _train_group(cfg, seeds, x, y, k=k)
        lane = seeds.index(1338)
        states.append(eng.state_dicts()[lane])
        outs.append(eng.predict_numpy(lockstep._images(x))[lane])
    for s, o in zip(states[1:], outs[1:]):
        for name in s:
            assert torch.equal(s[name], states[0][name]), name
        assert np.array_equal(o, outs[0])


def test_a_diverged_neighbour_changes_nothing():
    """A lane that goes to NaN (a huge learning rate is not per lane, so: NaN initial weights)
    leaves its neighbour's numbers unchanged bit for bit."""
    cfg = _combo("tanh", "tanh", "sgd", 0.25, True)
    x, y = _digits(N_SHORT, seed=3)
    a, sa = _streams(cfg, 1338)
    bad, sb = _streams(cfg, 1339)
    state = bad.state_dict()
    state["H2w"].view(-1)[5] = float("nan")
    bad.load_state_dict(state)
    alone = lockstep.LockstepEngine(cfg, [a], k=4)
    alone.train_pass(x, y, cfg.lr, [sa[0]], [sa[1]])
    pair = lockstep.LockstepEngine(cfg, [bad, _streams(cfg, 1338)[0]], k=4)
    pair.train_pass(x, y, cfg.lr, [sb[0], sa[0]], [sb[1], sa[1]])
    assert torch.isnan(pair.state_dicts()[0]["H1w"]).all()
    for name, w in alone.state_dicts()[0].items():
        assert torch.equal(w, pair.state_dicts()[1][name]), name


def _fake_data(n_train=80, n_test=40):
    x, y = _digits(n_train + n_test, seed=9)
    split = lambda a, b: SimpleNamespace(x=x[a:b].numpy(), y=y[a:b].numpy())   # noqa: E731
    return SimpleNamespace(train=split(0, n_train), test=split(n_train, n_train + n_test))


def test_run_group_when_k_does_not_divide_the_seeds(tmp_path):
    """5 seeds in groups of 4 (4 + 1): each run's records and weights are those of the seed
    trained alone (train.run on the lockstep engine), bit for bit, and close to the fast engine's."""
    cfg = Config(passes=2, dropout=0.25, shift=True, schedule="linear")
    data = _fake_data()
    seeds = [1337, 1338, 1339, 1340, 1341]
    dirs = [tmp_path / str(s) for s in seeds]
    group = run_group(cfg, seeds, engine="lockstep", data=data, out_dirs=dirs, k=4)
    assert [r.config.seed for r in group] == seeds
    for s, r, d in zip(seeds, group, dirs):
        alone = run(cfg.with_overrides(seed=s), engine="lockstep", data=data, progress=False)
        assert r.records == alone.records and r.engine == "lockstep"
        for name in alone.state:
            assert torch.equal(r.state[name], alone.state[name])
        fast = run(cfg.with_overrides(seed=s), engine="fast", data=data, progress=False)
        for a, b in zip(r.records, fast.records):
            assert a["split"] == b["split"] and abs(a["loss"] - b["loss"]) <= 1e-4 * abs(b["loss"])
        assert {p.name for p in d.iterdir()} >= {"config.json", "metrics.jsonl", "rejection.json", "checkpoint.pt"}


def test_group_lanes():
    assert [lockstep.group_lanes(n, 16) for n in (1, 3, 4, 5, 8, 9, 15, 16, 40)] == [4, 4, 4, 8, 8, 16, 16, 16, 16]
    assert [lockstep.group_lanes(n, 8) for n in (1, 5, 8)] == [4, 8, 8]


def test_cpu_lanes(monkeypatch):
    assert lockstep.cpu_lanes() in (4, 8, 16)
    monkeypatch.setenv("LECUN1989_LOCKSTEP_K", "4")
    assert lockstep.cpu_lanes() == 4


_AVX2_CHILD = """
import hashlib, json, sys
sys.path.insert(0, {tests!r})
import numpy as np
from test_lockstep import INDEPENDENCE, N_SHORT, _combo, _digits, _train_group
from lecun1989 import activations, lockstep
from lecun1989.lanevec import width_tag
out = []
for combo in INDEPENDENCE:
    cfg = _combo(*combo)
    x, y = _digits(N_SHORT, seed=3)
    eng = _train_group(cfg, [1338, 1337], x, y, k=8)
    lane = np.ascontiguousarray(eng.theta.reshape(-1, eng.k)[:, 0])
    pred = eng.predict_numpy(lockstep._images(x))[0]
    out.append(hashlib.sha256(lane.tobytes() + pred.tobytes()).hexdigest())
asm = lockstep._kernel.inspect_asm(lockstep._kernel.signatures[0])
print(json.dumps({{"hashes": out, "zmm": "zmm" in asm, "ymm": "ymm" in asm}}))
"""


def test_the_same_numbers_on_an_avx2_machine(tmp_path):
    """The kernels compiled for an AVX2-only x86-64 (numba's target set to haswell, no AVX-512:
    the EPYC machines of this kind) in a fresh cache, 8 lanes, give a lane the same numbers bit
    for bit as this machine's build with 16 lanes (AVX-512 here)."""
    import hashlib
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path
    here = Path(__file__).resolve().parent
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_CPU_NAME": "haswell",
           "NUMBA_CPU_FEATURES": "+64bit,+avx,+avx2,+fma,+f16c,+bmi,+bmi2,+lzcnt,+movbe,+popcnt,+cx16,"
                                 "+sse,+sse2,+sse3,+ssse3,+sse4.1,+sse4.2,+cmov,+fxsr,+xsave,+mmx,-avx512f",
           "PYTHONPATH": os.pathsep.join([str(here.parent / "src"), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", _AVX2_CHILD.format(tests=str(here))], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    child = json.loads(r.stdout.strip().splitlines()[-1])
    assert not child["zmm"] and child["ymm"], "the child did not compile for AVX2"
    mine = []
    for combo in INDEPENDENCE:
        cfg = _combo(*combo)
        x, y = _digits(N_SHORT, seed=3)
        eng = _train_group(cfg, [1341, 1340, 1338], x, y, k=16)
        lane = np.ascontiguousarray(eng.theta.reshape(-1, eng.k)[:, 2])
        pred = eng.predict_numpy(lockstep._images(x))[2]
        mine.append(hashlib.sha256(lane.tobytes() + pred.tobytes()).hexdigest())
    assert child["hashes"] == mine


def test_activation_codes_are_the_registry_s():
    """The kernels' codes are the registry's indices, the tanh head's squashing its head rule;
    a name outside the registry is a one-line ConfigError, not a KeyError."""
    import types as pytypes

    from lecun1989.config import ConfigError
    for name in activations.NAMES:
        act, head, out_act = lockstep.activation_codes(Config(activation=name))
        assert act == activations.index(name) and head == lockstep.HEAD_SQUASH
        assert out_act == activations.index(activations.head_of(name).name)
        assert lockstep.activation_codes(Config(activation=name, head="linear"))[1:] == (lockstep.HEAD_LINEAR, -1)
    assert lockstep.activation_codes(Config(activation="scaled-tanh"))[2] == activations.index("scaled-tanh")
    with pytest.raises(ConfigError, match="lockstep engine has no activation 'swish'"):
        lockstep.activation_codes(pytypes.SimpleNamespace(activation="swish", head="tanh"))


@pytest.mark.parametrize("name", ["tanh", "relu", "scaled-tanh"])
def test_vector_forms_are_the_registry_s_kernels(name):
    """The activations written as lane vectors (`_lact`) against the registry's scalar kernel (the
    fast engine's) applied lane by lane (`_activate_lanes`, how any other entry runs), on 400,000
    points of [-12, 12] and 0, -0, NaN, +-inf, tiny and clamp values: the values bit for bit; the
    derivatives too for relu, and for the two tanh within one rounding of t*t and one of the
    result (at most 2^-23 x A S absolute): the fast engine's kernel is compiled with fast-math's
    `contract`, which fuses 1 - t*t into one multiply-add, while the lockstep engine rounds t*t
    first, as its tests and its recorded runs always have."""
    x = np.concatenate([np.linspace(-12, 12, 400_000, dtype=np.float32),
                        np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-30, -1e-30, 9.1, -9.1] + [0.0] * 7,
                                 np.float32)])
    wt = width_tag(16)
    n = x.size // 16
    vec = [np.empty_like(x) for _ in range(2)]
    lanes = [np.empty_like(x) for _ in range(2)]
    lockstep._activate(x, vec[0], vec[1], n, activations.index(name), True, wt)
    lockstep._activate_lanes(x, lanes[0], lanes[1], n, activations.index(name), True, wt)
    assert np.array_equal(vec[0].view(np.uint32), lanes[0].view(np.uint32))
    if name == "relu":
        assert np.array_equal(vec[1].view(np.uint32), lanes[1].view(np.uint32))
    else:
        scale = 1.0 if name == "tanh" else float(lockstep.SAS)
        assert np.array_equal(np.isnan(vec[1]), np.isnan(lanes[1]))
        assert np.nanmax(np.abs(vec[1] - lanes[1])) <= 2.0 ** -23 * scale     # and the result's rounding


def test_a_cache_older_than_any_source_is_dropped(tmp_path, monkeypatch):
    """numba checks only the defining file's time stamp: an edit of lanevec.py (or the registry,
    the tanh, the geometry) must drop the kernels' cache (lockstep/compilation.py)."""
    import os
    import time

    from lecun1989.lockstep import compilation
    names = {d.__name__ for d in compilation._dispatchers()}
    assert {"_kernel", "_lact", "_scalar_act", "_h2_backward", "_forward", "_elu_fast"} <= names
    assert {p.name for p in compilation._sources()} >= {"lanevec.py", "activations.py", "tanh.py", "kernel.py"}
    lockstep.LockstepEngine(Config(), [Net1989(seed=1)], k=4).predict_numpy(np.zeros((1, 16, 16), np.float32))
    assert compilation._cache_is_current() is True
    edited = tmp_path / "lanevec.py"
    edited.write_text("")
    later = time.time() + 100
    os.utime(edited, (later, later))
    monkeypatch.setattr(compilation, "_sources", lambda real=compilation._sources: real() + [edited])
    assert compilation._cache_is_current() is False
    flushed = []
    monkeypatch.setattr(compilation, "_dispatchers",
                        lambda: [SimpleNamespace(_cache=SimpleNamespace(flush=lambda: flushed.append(1)))] * 3)
    monkeypatch.setattr(compilation, "_ENSURED", False)
    compilation.ensure_compiled()
    compilation.ensure_compiled()               # once per process
    assert flushed == [1, 1, 1]


def test_other_widths_are_a_clear_error_not_a_crash():
    """The lockstep kernels are compiled for the paper's widths; a wider net is refused with one
    line naming the engine that can train it."""
    from lecun1989.config import ConfigError
    from lecun1989.lockstep import group
    with pytest.raises(ConfigError, match="lockstep engine trains the paper's widths only.*--engine fast"):
        group.run_group(Config(h1_maps=24, h2_maps=24, passes=1), [1337, 1338], data=object())
