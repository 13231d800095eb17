"""The lockstep engine: K runs of one config with different seeds, trained together, one per
vector lane (issue 18).

Runs of one ladder step differ only in their seed: the same program on other numbers. With one
run per SIMD lane every operation of the per-example algorithm of `train.TorchEngine` becomes one
full-width vector operation - no horizontal sums, no partial vectors, no im2col: lane l holds run
l's weights, its shift and its dropout mask; the digit order is the same for all runs. Each lane
computes what the reference engine computes for its seed, to float32 rounding (the agreement of
tests/test_lockstep.py, as tests/test_fast.py checks the fast engine); docs/lockstep.md has the
design and the measured speed.

Layout: every per-run array has a trailing lane axis of K floats, stored flat - element e of an
array is `a[e*K : (e+1)*K]`, one K-lane vector (lanevec.py). The parameters live in one flat
vector `theta` (9760 elements x K, in PARAM_SHAPES order, each in the model's own shape:
H1w (12, 25), H1b (12, 64), H2w (12, 200), H2b (12, 16), H3w (192, 30), H3b (30), outw (30, 10),
outb (10)), with the gradient, the AdamW moments and the sdlm diagonal beside it in the same
layout, so an optimizer step is one loop. Per example:

    xpad   (20, 20)        the rolled (per lane), padded input
    a1/d1  (12, 64)        H1 pre-activation and derivative
    h1pad  (12, 12, 12)    the activations of H1, padded (border -1)
    a2/h2/d2/h2d (192)     H2 ..., and after the dropout mask
    a3/h3/d3 (30), z/out/dout (10)
    dh1pad (12, 12, 12)    the gradient of the padded H1 maps

The H2 connection table is taken per H1 map: `h2_groups` lists, for each H1 map m, the H2 maps
that read it (with the position of m among their 8 inputs), in groups of up to 4, so one kernel
serves every scheme (anchor, lenet5, random): the forward adds each group's 25-tap partial sums
to a2, the backward computes the weight gradient and the input gradient per group.

Determinism (the rule of this engine): every kernel is compiled without fast-math flags and
every multiply-add chain is written with explicit fused multiply-adds (`lfma`), so LLVM may not
reassociate, contract or approximate anything: each lane performs exactly the IEEE operations
written here, in the order written, whatever K is and whatever the other lanes hold. Elementwise
loops (activations, optimizer steps) are plain loops, which LLVM vectorizes or not as it likes:
without fast-math a loop with no reduction gives the same numbers either way. The group size K
is fixed at compile time (the lane count is in the type of the width tag, lanevec.width_tag), so
no lane is ever in a scalar remainder loop.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
from numba import literal_unroll, njit
from numba.core.errors import NumbaExperimentalFeatureWarning

from . import activations
from .activations import FAST_KERNELS
from .config import MSE_FACTOR, Config, ConfigError
from .fast.tanh import TANH_CLAMP, TP, TQ
from .geometry import (BACKGROUND, H1_MAPS, H1_SIDE, H2_FAN_MAPS, H2_MAPS, H2_SIDE, H2_UNITS,
                       H3_UNITS, IMAGE, KERNEL, OUTPUTS, PAD, PARAM_SHAPES, SCALED_TANH_A,
                       SCALED_TANH_S, STRIDE, h2_table)
from .lanevec import (ladd, ldiv, lfma, lget, lload, lmax, lmin, lmul, lrelu, lset, lsplat, lstore, lsub, lzero,
                      width_tag)

# the tuple of the registry's kernels is unrolled in _lact_lanes (see fast/layers.py, `_activate`)
warnings.filterwarnings("ignore", message=".*First-class function type feature is experimental",
                        category=NumbaExperimentalFeatureWarning)

# -- geometry ----------------------------------------------------------------------------------
TAPS = KERNEL * KERNEL                      # 25
P1 = H1_SIDE * H1_SIDE                      # 64 H1 positions per map
P2 = H2_SIDE * H2_SIDE                      # 16 H2 positions per map
XPAD = IMAGE + 2 * PAD                      # 20
H1PAD = H1_SIDE + 2 * PAD                   # 12
W2ROW = H2_FAN_MAPS * TAPS                  # 200 weights per H2 map
assert H1_MAPS % 4 == 0 and H1_SIDE % 4 == 0 and H3_UNITS % 10 == 0 and H2_UNITS % 8 == 0
assert H2_SIDE == 4 and STRIDE == 2 and KERNEL == 5 and OUTPUTS == 10

# parameter offsets in theta, in elements (x K floats), PARAM_SHAPES order
_SIZES = {name: int(np.prod(shape)) for name, shape in PARAM_SHAPES.items()}
OFFSETS: dict[str, int] = {}
_o = 0
for _name, _n in _SIZES.items():
    OFFSETS[_name] = _o
    _o += _n
N_PARAMS = _o                               # 9760
O_W1, O_B1, O_W2, O_B2 = OFFSETS["H1w"], OFFSETS["H1b"], OFFSETS["H2w"], OFFSETS["H2b"]
O_W3, O_B3, O_W4, O_B4 = OFFSETS["H3w"], OFFSETS["H3b"], OFFSETS["outw"], OFFSETS["outb"]

# scratch offsets, in elements
_SCRATCH = (("xpad", XPAD * XPAD), ("xpsq", XPAD * XPAD), ("a1", H1_MAPS * P1),
            ("d1", H1_MAPS * P1), ("h1pad", H1_MAPS * H1PAD * H1PAD), ("h1psq", H1_MAPS * H1PAD * H1PAD),
            ("a2", H2_UNITS), ("h2", H2_UNITS), ("d2", H2_UNITS), ("h2d", H2_UNITS),
            ("a3", H3_UNITS), ("h3", H3_UNITS), ("d3", H3_UNITS), ("z", OUTPUTS), ("out", OUTPUTS),
            ("dout", OUTPUTS), ("dz", OUTPUTS), ("dh3", H3_UNITS), ("dh2", H2_UNITS), ("da2", H2_UNITS),
            ("dh1pad", H1_MAPS * H1PAD * H1PAD), ("w2sq", H2_MAPS * W2ROW))
SCR: dict[str, int] = {}
_o = 0
for _name, _n in _SCRATCH:
    SCR[_name] = _o
    _o += _n
N_SCRATCH = _o
S_XPAD, S_XPSQ, S_A1, S_D1 = SCR["xpad"], SCR["xpsq"], SCR["a1"], SCR["d1"]
S_H1PAD, S_H1PSQ, S_A2, S_H2, S_D2 = SCR["h1pad"], SCR["h1psq"], SCR["a2"], SCR["h2"], SCR["d2"]
S_H2D, S_A3, S_H3, S_D3, S_Z = SCR["h2d"], SCR["a3"], SCR["h3"], SCR["d3"], SCR["z"]
S_OUT, S_DOUT, S_DZ, S_DH3, S_DH2 = SCR["out"], SCR["dout"], SCR["dz"], SCR["dh3"], SCR["dh2"]
S_DA2, S_DH1PAD, S_W2SQ = SCR["da2"], SCR["dh1pad"], SCR["w2sq"]

# Activations: the registry's codes (activations.index) and head rule (activation_codes). tanh,
# relu and the scaled tanh have a vector form here (`_lact`: one vector instruction per step for
# all K lanes; the tanh's Horner steps as explicit fused multiply-adds); any other entry (ELU ...)
# runs the registry's scalar kernel lane by lane (`_lact_lanes`). Against the registry's kernels
# (tests/test_lockstep.py): f bit for bit for all three, f' bit for bit for relu; the two tanh's
# 1 - t*t differs by one rounding of t*t (the fast engine's kernel is compiled with fast-math's
# `contract`, which fuses it; the vector form rounds t*t first, as this engine always has).
A_TANH, A_RELU, A_SCALED_TANH = (activations.index(n) for n in ("tanh", "relu", "scaled-tanh"))
HEAD_SQUASH, HEAD_LINEAR = 0, 1
OPT = {"sgd": 0, "adamw": 1, "sdlm": 2}
MODE_TRAIN, MODE_PREDICT, MODE_HESSIAN = 0, 1, 2
# torch.optim.AdamW defaults (lr is given per pass), as fast.py
ADAM_BETA1, ADAM_BETA2, ADAM_EPS, ADAM_WD = 0.9, 0.999, 1e-8, 1e-2

# No fast-math (see the module docstring); error_model numpy: division without Python's check.
LJIT = dict(cache=True, fastmath=False, error_model="numpy", boundscheck=False, nogil=True)

F32 = np.float32
SA = F32(SCALED_TANH_A)
SS = F32(SCALED_TANH_S)
BG = F32(BACKGROUND)
ALIGN = 64


# -- the CPU's vector width --------------------------------------------------------------------
def cpu_lanes() -> int:
    """Float32 lanes of the widest vectors this CPU has: 16 with AVX-512, 8 with AVX2, else 4.
    LECUN1989_LOCKSTEP_K overrides it."""
    env = os.environ.get("LECUN1989_LOCKSTEP_K")
    if env:
        return int(env)
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line
                    break
    except OSError:
        pass
    words = set(flags.split())
    if "avx512f" in words:
        return 16
    if "avx2" in words:
        return 8
    return 4


# -- the H2 table per H1 map ----------------------------------------------------------------------
def h2_groups(table) -> np.ndarray:
    """For each H1 map m (ascending), the H2 maps o that read it (ascending) with the index c of
    m among o's 8 inputs, in groups of up to 4: rows [m, count, o0, c0, o1, c1, o2, c2, o3, c3]."""
    rows = []
    for m in range(H1_MAPS):
        users = [(o, row.index(m)) for o, row in enumerate(table) if m in row]
        for g in range(0, len(users), 4):
            part = users[g:g + 4]
            r = [m, len(part)]
            for o, c in part:
                r += [o, c]
            r += [0, 0] * (4 - len(part))
            rows.append(r)
    return np.array(rows, dtype=np.int64)


def activation_codes(cfg: Config) -> tuple[int, int, int]:
    """(hidden units' code, head kind, the tanh head's squashing code or -1 for a linear head),
    the codes from the activation registry and its head rule (activations.head_of). ConfigError
    for a name the registry does not know."""
    if cfg.activation not in activations.REGISTRY:
        raise ConfigError(f"the lockstep engine has no activation {cfg.activation!r} "
                          f"(the registry's: {', '.join(activations.NAMES)})")
    head = HEAD_SQUASH if cfg.head == "tanh" else HEAD_LINEAR
    out_act = -1 if cfg.head == "linear" else activations.index(activations.head_of(cfg.activation).name)
    return activations.index(cfg.activation), head, out_act


def table_of(cfg: Config):
    return h2_table(cfg.h2_scheme, cfg.h2_seed)


# -- activations, a lane vector at a time ---------------------------------------------------------
# tanh: the fast engine's float32 rational (fast.tanh_rational32: x P(x^2) / Q(x^2) on |x| <= 9.1,
# the same coefficients and operations), here on K-lane vectors, each Horner step one fused
# multiply-add (as LLVM contracts the fast engine's scalar version; written explicitly here).
_CL = F32(TANH_CLAMP)
_P1, _P2, _P3, _P4 = (F32(c) for c in TP[1:])
_Q1, _Q2, _Q3, _Q4 = (F32(c) for c in TQ[1:])
SAS = SA * SS                               # float32, as fast._activate's `SA * SS`


@njit(**LJIT)
def _ltanh(x, wt):
    """tanh of each lane (see above); NaN stays NaN, the result stays within +-1."""
    one = lsplat(1.0, wt)
    x = lmin(x, _CL)
    x = lmax(x, -_CL)
    u = lmul(x, x)
    num = lfma(lfma(lfma(lfma(lsplat(_P4, wt), u, lsplat(_P3, wt)), u, lsplat(_P2, wt)), u, lsplat(_P1, wt)), u, one)
    den = lfma(lfma(lfma(lfma(lsplat(_Q4, wt), u, lsplat(_Q3, wt)), u, lsplat(_Q2, wt)), u, lsplat(_Q1, wt)), u, one)
    t = ldiv(lmul(x, num), den)
    t = lmin(t, 1.0)
    return lmax(t, -1.0)


@njit(**LJIT)
def _lact_lanes(v, act, wt):
    """(f(v), f'(v)) of registry entry `act`, its fast-engine scalar kernel applied lane by lane
    (the activations without a vector form here: ELU ...). Compiled, as every kernel here,
    without fast-math: each lane performs the kernel's own IEEE operations (and libm calls)."""
    h = lzero(wt)
    d = lzero(wt)
    i = 0
    for kernel in literal_unroll(FAST_KERNELS):
        if i == act:
            for lane in range(len(wt)):
                hv, dv = kernel(lget(v, lane))
                h = lset(h, lane, hv)
                d = lset(d, lane, dv)
        i += 1
    return h, d


@njit(**LJIT)
def _lact(v, act, wt):
    """model.Net1989.forward's `act(...)` and the derivative the backward pass needs, as torch's
    autograd computes it from the output; act is the entry's index in activations.REGISTRY.
    Written here as lane vectors: tanh (t, 1 - t^2); relu (v > 0 ? v : 0, v > 0); scaled tanh
    (A t, A S (1 - t^2)) with t = tanh(S v); every other entry through its scalar kernel, lane by
    lane (`_lact_lanes`)."""
    one = lsplat(1.0, wt)
    if act == A_TANH:
        t = _ltanh(v, wt)
        return t, lsub(one, lmul(t, t))
    if act == A_RELU:
        return lrelu(v)
    if act == A_SCALED_TANH:
        t = _ltanh(lmul(lsplat(SS, wt), v), wt)
        return lmul(lsplat(SA, wt), t), lmul(lsplat(SAS, wt), lsub(one, lmul(t, t)))
    return _lact_lanes(v, act, wt)


@njit(**LJIT)
def _activate(a, h, dh, n, act, deriv, wt):
    """h = act(a) (and dh = act'(a) with deriv) for the first n elements of flat lane arrays."""
    K = len(wt)
    for e in range(n):
        hv, dv = _lact(lload(a, e * K, wt), act, wt)
        lstore(h, e * K, hv)
        if deriv:
            lstore(dh, e * K, dv)


@njit(**LJIT)
def _input(X, e, sidx, use_sample, shifts, use_shift, xpad, wt):
    """train_pass: torch.roll(x, (sr, sc), (2, 3)) per lane (out[r, c] = in[r - sr, c - sc],
    wrapping), then F.pad(x, 2, value=-1) (the border is preset). Lane l's image is X[e], or
    X[sidx[l, e]] with use_sample (the sdlm estimate: each run draws its own sample)."""
    K = len(wt)
    if not use_shift and not use_sample:
        img = X[e]
        for r in range(IMAGE):
            for c in range(IMAGE):
                lstore(xpad, ((r + PAD) * XPAD + c + PAD) * K, lsplat(img[r, c], wt))
        return
    for lane in range(K):
        img = X[sidx[lane, e]] if use_sample else X[e]
        sr = shifts[lane, e, 0] if use_shift else 0
        sc = shifts[lane, e, 1] if use_shift else 0
        for r in range(IMAGE):
            row = img[(r - sr) & (IMAGE - 1)]
            base = ((r + PAD) * XPAD + PAD) * K + lane
            for c in range(IMAGE):
                xpad[base + c * K] = row[(c - sc) & (IMAGE - 1)]


# -- forward -------------------------------------------------------------------------------------
@njit(**LJIT)
def _act_store(v, act, deriv, h, hi, d, di, wt):
    """h[hi] = act(v) and, with deriv, d[di] = act'(v) (one lane vector each)."""
    hv, dv = _lact(v, act, wt)
    lstore(h, hi, hv)
    if deriv:
        lstore(d, di, dv)


@njit(**LJIT)
def _h1_forward(W1, B1, xpad, h1pad, d1, act, deriv, wt):
    """model.forward: act(F.conv2d(x, H1w, stride=2) + H1b), then F.pad(., 2, value=-1): each
    pre-activation from the bias, the 25 taps in order; register tile 4 maps x 4 positions, whose
    16 sums go through the activation in registers (so the tanh's divisions overlap the next
    tile's multiply-adds) straight into the interior of h1pad (12, 12, 12; the border is preset),
    act' into d1 (12, 64) with deriv."""
    K = len(wt)
    for m in range(0, H1_MAPS, 4):
        for i in range(H1_SIDE):
            for j0 in range(0, H1_SIDE, 4):
                p = i * H1_SIDE + j0
                o0 = (m * P1 + p) * K
                o1 = o0 + P1 * K
                o2 = o1 + P1 * K
                o3 = o2 + P1 * K
                s00 = lload(B1, o0, wt)
                s01 = lload(B1, o0 + K, wt)
                s02 = lload(B1, o0 + 2 * K, wt)
                s03 = lload(B1, o0 + 3 * K, wt)
                s10 = lload(B1, o1, wt)
                s11 = lload(B1, o1 + K, wt)
                s12 = lload(B1, o1 + 2 * K, wt)
                s13 = lload(B1, o1 + 3 * K, wt)
                s20 = lload(B1, o2, wt)
                s21 = lload(B1, o2 + K, wt)
                s22 = lload(B1, o2 + 2 * K, wt)
                s23 = lload(B1, o2 + 3 * K, wt)
                s30 = lload(B1, o3, wt)
                s31 = lload(B1, o3 + K, wt)
                s32 = lload(B1, o3 + 2 * K, wt)
                s33 = lload(B1, o3 + 3 * K, wt)
                for ki in range(KERNEL):
                    xr = ((STRIDE * i + ki) * XPAD + STRIDE * j0) * K
                    for kj in range(KERNEL):
                        k = ki * KERNEL + kj
                        x0 = lload(xpad, xr + kj * K, wt)
                        x1 = lload(xpad, xr + (kj + 2) * K, wt)
                        x2 = lload(xpad, xr + (kj + 4) * K, wt)
                        x3 = lload(xpad, xr + (kj + 6) * K, wt)
                        w = lload(W1, (m * TAPS + k) * K, wt)
                        s00 = lfma(w, x0, s00)
                        s01 = lfma(w, x1, s01)
                        s02 = lfma(w, x2, s02)
                        s03 = lfma(w, x3, s03)
                        w = lload(W1, ((m + 1) * TAPS + k) * K, wt)
                        s10 = lfma(w, x0, s10)
                        s11 = lfma(w, x1, s11)
                        s12 = lfma(w, x2, s12)
                        s13 = lfma(w, x3, s13)
                        w = lload(W1, ((m + 2) * TAPS + k) * K, wt)
                        s20 = lfma(w, x0, s20)
                        s21 = lfma(w, x1, s21)
                        s22 = lfma(w, x2, s22)
                        s23 = lfma(w, x3, s23)
                        w = lload(W1, ((m + 3) * TAPS + k) * K, wt)
                        s30 = lfma(w, x0, s30)
                        s31 = lfma(w, x1, s31)
                        s32 = lfma(w, x2, s32)
                        s33 = lfma(w, x3, s33)
                hp = ((m * H1PAD + i + PAD) * H1PAD + j0 + PAD) * K
                _act_store(s00, act, deriv, h1pad, hp, d1, o0, wt)
                _act_store(s01, act, deriv, h1pad, hp + K, d1, o0 + K, wt)
                _act_store(s02, act, deriv, h1pad, hp + 2 * K, d1, o0 + 2 * K, wt)
                _act_store(s03, act, deriv, h1pad, hp + 3 * K, d1, o0 + 3 * K, wt)
                _act_store(s10, act, deriv, h1pad, hp + 1 * H1PAD * H1PAD * K, d1, o1, wt)
                _act_store(s11, act, deriv, h1pad, hp + 1 * H1PAD * H1PAD * K + K, d1, o1 + K, wt)
                _act_store(s12, act, deriv, h1pad, hp + 1 * H1PAD * H1PAD * K + 2 * K, d1, o1 + 2 * K, wt)
                _act_store(s13, act, deriv, h1pad, hp + 1 * H1PAD * H1PAD * K + 3 * K, d1, o1 + 3 * K, wt)
                _act_store(s20, act, deriv, h1pad, hp + 2 * H1PAD * H1PAD * K, d1, o2, wt)
                _act_store(s21, act, deriv, h1pad, hp + 2 * H1PAD * H1PAD * K + K, d1, o2 + K, wt)
                _act_store(s22, act, deriv, h1pad, hp + 2 * H1PAD * H1PAD * K + 2 * K, d1, o2 + 2 * K, wt)
                _act_store(s23, act, deriv, h1pad, hp + 2 * H1PAD * H1PAD * K + 3 * K, d1, o2 + 3 * K, wt)
                _act_store(s30, act, deriv, h1pad, hp + 3 * H1PAD * H1PAD * K, d1, o3, wt)
                _act_store(s31, act, deriv, h1pad, hp + 3 * H1PAD * H1PAD * K + K, d1, o3 + K, wt)
                _act_store(s32, act, deriv, h1pad, hp + 3 * H1PAD * H1PAD * K + 2 * K, d1, o3 + 2 * K, wt)
                _act_store(s33, act, deriv, h1pad, hp + 3 * H1PAD * H1PAD * K + 3 * K, d1, o3 + 3 * K, wt)


@njit(**LJIT)
def _h2_forward(W2, B2, h1pad, a2, groups, wt):
    """model.forward: the H2 convolutions of the connection table + H2b -> a2 (12, 16). a2 starts
    from the bias; each H1 map m (in order) adds, for each H2 map o that reads it, its 25-tap sum
    (taps in order, from 0) - so each H2 unit sums its 8 input maps in increasing order. Register
    tile: a group's 4 maps x 4 positions (a row of H2)."""
    K = len(wt)
    for t in range(H2_UNITS * K):
        a2[t] = B2[t]
    for g in range(groups.shape[0]):
        m = groups[g, 0]
        cnt = groups[g, 1]
        mb = m * H1PAD * H1PAD
        if cnt == 4:
            wa = (groups[g, 2] * W2ROW + groups[g, 3] * TAPS) * K
            wb = (groups[g, 4] * W2ROW + groups[g, 5] * TAPS) * K
            wc = (groups[g, 6] * W2ROW + groups[g, 7] * TAPS) * K
            wd = (groups[g, 8] * W2ROW + groups[g, 9] * TAPS) * K
            for i in range(H2_SIDE):
                s00 = lzero(wt)
                s01 = s00
                s02 = s00
                s03 = s00
                s10 = s00
                s11 = s00
                s12 = s00
                s13 = s00
                s20 = s00
                s21 = s00
                s22 = s00
                s23 = s00
                s30 = s00
                s31 = s00
                s32 = s00
                s33 = s00
                for ki in range(KERNEL):
                    xr = (mb + (STRIDE * i + ki) * H1PAD) * K
                    for kj in range(KERNEL):
                        k = (ki * KERNEL + kj) * K
                        x0 = lload(h1pad, xr + kj * K, wt)
                        x1 = lload(h1pad, xr + (kj + 2) * K, wt)
                        x2 = lload(h1pad, xr + (kj + 4) * K, wt)
                        x3 = lload(h1pad, xr + (kj + 6) * K, wt)
                        w = lload(W2, wa + k, wt)
                        s00 = lfma(w, x0, s00)
                        s01 = lfma(w, x1, s01)
                        s02 = lfma(w, x2, s02)
                        s03 = lfma(w, x3, s03)
                        w = lload(W2, wb + k, wt)
                        s10 = lfma(w, x0, s10)
                        s11 = lfma(w, x1, s11)
                        s12 = lfma(w, x2, s12)
                        s13 = lfma(w, x3, s13)
                        w = lload(W2, wc + k, wt)
                        s20 = lfma(w, x0, s20)
                        s21 = lfma(w, x1, s21)
                        s22 = lfma(w, x2, s22)
                        s23 = lfma(w, x3, s23)
                        w = lload(W2, wd + k, wt)
                        s30 = lfma(w, x0, s30)
                        s31 = lfma(w, x1, s31)
                        s32 = lfma(w, x2, s32)
                        s33 = lfma(w, x3, s33)
                pa = (groups[g, 2] * P2 + i * H2_SIDE) * K
                lstore(a2, pa, ladd(lload(a2, pa, wt), s00))
                lstore(a2, pa + K, ladd(lload(a2, pa + K, wt), s01))
                lstore(a2, pa + 2 * K, ladd(lload(a2, pa + 2 * K, wt), s02))
                lstore(a2, pa + 3 * K, ladd(lload(a2, pa + 3 * K, wt), s03))
                pa = (groups[g, 4] * P2 + i * H2_SIDE) * K
                lstore(a2, pa, ladd(lload(a2, pa, wt), s10))
                lstore(a2, pa + K, ladd(lload(a2, pa + K, wt), s11))
                lstore(a2, pa + 2 * K, ladd(lload(a2, pa + 2 * K, wt), s12))
                lstore(a2, pa + 3 * K, ladd(lload(a2, pa + 3 * K, wt), s13))
                pa = (groups[g, 6] * P2 + i * H2_SIDE) * K
                lstore(a2, pa, ladd(lload(a2, pa, wt), s20))
                lstore(a2, pa + K, ladd(lload(a2, pa + K, wt), s21))
                lstore(a2, pa + 2 * K, ladd(lload(a2, pa + 2 * K, wt), s22))
                lstore(a2, pa + 3 * K, ladd(lload(a2, pa + 3 * K, wt), s23))
                pa = (groups[g, 8] * P2 + i * H2_SIDE) * K
                lstore(a2, pa, ladd(lload(a2, pa, wt), s30))
                lstore(a2, pa + K, ladd(lload(a2, pa + K, wt), s31))
                lstore(a2, pa + 2 * K, ladd(lload(a2, pa + 2 * K, wt), s32))
                lstore(a2, pa + 3 * K, ladd(lload(a2, pa + 3 * K, wt), s33))
        else:
            # fewer than 4 maps (a `random` table): one map at a time, the same sums
            for u in range(cnt):
                wa = (groups[g, 2 + 2 * u] * W2ROW + groups[g, 3 + 2 * u] * TAPS) * K
                for i in range(H2_SIDE):
                    s00 = lzero(wt)
                    s01 = s00
                    s02 = s00
                    s03 = s00
                    for ki in range(KERNEL):
                        xr = (mb + (STRIDE * i + ki) * H1PAD) * K
                        for kj in range(KERNEL):
                            w = lload(W2, wa + (ki * KERNEL + kj) * K, wt)
                            s00 = lfma(w, lload(h1pad, xr + kj * K, wt), s00)
                            s01 = lfma(w, lload(h1pad, xr + (kj + 2) * K, wt), s01)
                            s02 = lfma(w, lload(h1pad, xr + (kj + 4) * K, wt), s02)
                            s03 = lfma(w, lload(h1pad, xr + (kj + 6) * K, wt), s03)
                    pa = (groups[g, 2 + 2 * u] * P2 + i * H2_SIDE) * K
                    lstore(a2, pa, ladd(lload(a2, pa, wt), s00))
                    lstore(a2, pa + K, ladd(lload(a2, pa + K, wt), s01))
                    lstore(a2, pa + 2 * K, ladd(lload(a2, pa + 2 * K, wt), s02))
                    lstore(a2, pa + 3 * K, ladd(lload(a2, pa + 3 * K, wt), s03))


@njit(**LJIT)
def _h3_forward(W3, B3, h2d, a3, wt):
    """model.forward: x @ H3w + H3b -> a3 (30): from the bias, the 192 inputs in order. Register
    tile: 10 units."""
    K = len(wt)
    for u in range(0, H3_UNITS, 10):
        s0 = lload(B3, u * K, wt)
        s1 = lload(B3, (u + 1) * K, wt)
        s2 = lload(B3, (u + 2) * K, wt)
        s3 = lload(B3, (u + 3) * K, wt)
        s4 = lload(B3, (u + 4) * K, wt)
        s5 = lload(B3, (u + 5) * K, wt)
        s6 = lload(B3, (u + 6) * K, wt)
        s7 = lload(B3, (u + 7) * K, wt)
        s8 = lload(B3, (u + 8) * K, wt)
        s9 = lload(B3, (u + 9) * K, wt)
        for q in range(H2_UNITS):
            x = lload(h2d, q * K, wt)
            r = (q * H3_UNITS + u) * K
            s0 = lfma(x, lload(W3, r, wt), s0)
            s1 = lfma(x, lload(W3, r + K, wt), s1)
            s2 = lfma(x, lload(W3, r + 2 * K, wt), s2)
            s3 = lfma(x, lload(W3, r + 3 * K, wt), s3)
            s4 = lfma(x, lload(W3, r + 4 * K, wt), s4)
            s5 = lfma(x, lload(W3, r + 5 * K, wt), s5)
            s6 = lfma(x, lload(W3, r + 6 * K, wt), s6)
            s7 = lfma(x, lload(W3, r + 7 * K, wt), s7)
            s8 = lfma(x, lload(W3, r + 8 * K, wt), s8)
            s9 = lfma(x, lload(W3, r + 9 * K, wt), s9)
        lstore(a3, u * K, s0)
        lstore(a3, (u + 1) * K, s1)
        lstore(a3, (u + 2) * K, s2)
        lstore(a3, (u + 3) * K, s3)
        lstore(a3, (u + 4) * K, s4)
        lstore(a3, (u + 5) * K, s5)
        lstore(a3, (u + 6) * K, s6)
        lstore(a3, (u + 7) * K, s7)
        lstore(a3, (u + 8) * K, s8)
        lstore(a3, (u + 9) * K, s9)


@njit(**LJIT)
def _out_forward(W4, B4, h3, z, wt):
    """model.forward: h3 @ outw + outb -> z (10): from the bias, the 30 units in order."""
    K = len(wt)
    s0 = lload(B4, 0, wt)
    s1 = lload(B4, K, wt)
    s2 = lload(B4, 2 * K, wt)
    s3 = lload(B4, 3 * K, wt)
    s4 = lload(B4, 4 * K, wt)
    s5 = lload(B4, 5 * K, wt)
    s6 = lload(B4, 6 * K, wt)
    s7 = lload(B4, 7 * K, wt)
    s8 = lload(B4, 8 * K, wt)
    s9 = lload(B4, 9 * K, wt)
    for u in range(H3_UNITS):
        x = lload(h3, u * K, wt)
        r = u * OUTPUTS * K
        s0 = lfma(x, lload(W4, r, wt), s0)
        s1 = lfma(x, lload(W4, r + K, wt), s1)
        s2 = lfma(x, lload(W4, r + 2 * K, wt), s2)
        s3 = lfma(x, lload(W4, r + 3 * K, wt), s3)
        s4 = lfma(x, lload(W4, r + 4 * K, wt), s4)
        s5 = lfma(x, lload(W4, r + 5 * K, wt), s5)
        s6 = lfma(x, lload(W4, r + 6 * K, wt), s6)
        s7 = lfma(x, lload(W4, r + 7 * K, wt), s7)
        s8 = lfma(x, lload(W4, r + 8 * K, wt), s8)
        s9 = lfma(x, lload(W4, r + 9 * K, wt), s9)
    lstore(z, 0, s0)
    lstore(z, K, s1)
    lstore(z, 2 * K, s2)
    lstore(z, 3 * K, s3)
    lstore(z, 4 * K, s4)
    lstore(z, 5 * K, s5)
    lstore(z, 6 * K, s6)
    lstore(z, 7 * K, s7)
    lstore(z, 8 * K, s8)
    lstore(z, 9 * K, s9)


@njit(**LJIT)
def _forward(X, e, sidx, use_sample, shifts, use_shift, masks, use_mask, act, out_act, deriv,
             theta, groups, S, wt):
    """model.Net1989.forward for one example in every lane (scratch S, offsets S_*), keeping
    what the backward pass needs (the derivatives only with deriv)."""
    K = len(wt)
    xpad = S[S_XPAD * K:(S_XPAD + XPAD * XPAD) * K]
    d1 = S[S_D1 * K:(S_D1 + H1_MAPS * P1) * K]
    h1pad = S[S_H1PAD * K:(S_H1PAD + H1_MAPS * H1PAD * H1PAD) * K]
    a2 = S[S_A2 * K:(S_A2 + H2_UNITS) * K]
    h2 = S[S_H2 * K:(S_H2 + H2_UNITS) * K]
    d2 = S[S_D2 * K:(S_D2 + H2_UNITS) * K]
    h2d = S[S_H2D * K:(S_H2D + H2_UNITS) * K]
    a3 = S[S_A3 * K:(S_A3 + H3_UNITS) * K]
    h3 = S[S_H3 * K:(S_H3 + H3_UNITS) * K]
    d3 = S[S_D3 * K:(S_D3 + H3_UNITS) * K]
    z = S[S_Z * K:(S_Z + OUTPUTS) * K]
    out = S[S_OUT * K:(S_OUT + OUTPUTS) * K]
    dout = S[S_DOUT * K:(S_DOUT + OUTPUTS) * K]
    W1 = theta[O_W1 * K:O_B1 * K]
    B1 = theta[O_B1 * K:O_W2 * K]
    W2 = theta[O_W2 * K:O_B2 * K]
    B2 = theta[O_B2 * K:O_W3 * K]
    W3 = theta[O_W3 * K:O_B3 * K]
    B3 = theta[O_B3 * K:O_W4 * K]
    W4 = theta[O_W4 * K:O_B4 * K]
    B4 = theta[O_B4 * K:N_PARAMS * K]
    _input(X, e, sidx, use_sample, shifts, use_shift, xpad, wt)
    _h1_forward(W1, B1, xpad, h1pad, d1, act, deriv, wt)
    _h2_forward(W2, B2, h1pad, a2, groups, wt)
    _activate(a2, h2, d2, H2_UNITS, act, deriv, wt)
    # model.forward: x * dropout_mask (training only; lane l's own mask)
    if use_mask:
        for q in range(H2_UNITS):
            for lane in range(K):
                h2d[q * K + lane] = h2[q * K + lane] * masks[lane, e, q]
    # (without a mask H3 reads h2 itself: h2d is then not written)
    _h3_forward(W3, B3, h2d if use_mask else h2, a3, wt)
    _activate(a3, h3, d3, H3_UNITS, act, deriv, wt)
    _out_forward(W4, B4, h3, z, wt)
    if out_act >= 0:
        _activate(z, out, dout, OUTPUTS, out_act, deriv, wt)
    else:
        for t in range(OUTPUTS * K):
            out[t] = z[t]


@njit(**LJIT)
def _softmax(z, p, wt):
    """p = softmax(z) over the 10 outputs of each lane (shifted by the largest, as torch does)."""
    K = len(wt)
    for lane in range(K):
        zmax = z[lane]
        for j in range(1, OUTPUTS):
            v = z[j * K + lane]
            zmax = v if v > zmax else zmax
        tot = F32(0.0)
        for j in range(OUTPUTS):
            v = np.float32(math.exp(z[j * K + lane] - zmax))
            p[j * K + lane] = v
            tot += v
        for j in range(OUTPUTS):
            p[j * K + lane] = p[j * K + lane] / tot


# -- backward ------------------------------------------------------------------------------------
@njit(**LJIT)
def _h2_backward(da2, W2, h1pad, G2, dh1pad, groups, fuse, lr32, wt):
    """Autograd of `_h2_forward` (or, on squared weights and inputs, sdlm's diagonal): the weight
    gradient G2[o, c*25 + tap] = sum over the 16 positions (in order, from 0) of da2[o, p] x the
    input under the tap; the input gradient dh1pad (zeroed first) gets, per group, for each
    kernel row ki and H2 row i, the 4 positions' 5 taps of the group's maps (maps in order),
    accumulated along the padded row in registers. With fuse (SGD), H2w's step p - lr g is taken
    here, right after the old weights' last use, and G2 is not written."""
    K = len(wt)
    nlr = lsplat(-lr32, wt)
    # only the interior is summed into (and read by _h1_backward); the padding's cells are never
    # added to, and what the windows carry through them is dropped
    z = lzero(wt)
    for m in range(H1_MAPS):
        for r in range(PAD, PAD + H1_SIDE):
            o = (m * H1PAD + r) * H1PAD * K
            for c in range(PAD, PAD + H1_SIDE):
                lstore(dh1pad, o + c * K, z)
    for g in range(groups.shape[0]):
        m = groups[g, 0]
        cnt = groups[g, 1]
        mb = m * H1PAD * H1PAD
        if cnt == 4:
            oa = groups[g, 2] * P2 * K
            ob = groups[g, 4] * P2 * K
            oc = groups[g, 6] * P2 * K
            od = groups[g, 8] * P2 * K
            wa = (groups[g, 2] * W2ROW + groups[g, 3] * TAPS) * K
            wb = (groups[g, 4] * W2ROW + groups[g, 5] * TAPS) * K
            wc = (groups[g, 6] * W2ROW + groups[g, 7] * TAPS) * K
            wd = (groups[g, 8] * W2ROW + groups[g, 9] * TAPS) * K
            for ki in range(KERNEL):
                k = ki * KERNEL * K
                # -- input gradient: the 4 maps' 5 weights of row ki stay in registers; along each
                # padded row 2i+ki, a window of 5 cells (2j .. 2j+4) is summed in registers. The
                # padding's cells (rows and columns 0, 1, 10) are skipped: their gradient is dropped
                a0 = lload(W2, wa + k, wt)
                a1_ = lload(W2, wa + k + K, wt)
                a2_ = lload(W2, wa + k + 2 * K, wt)
                a3_ = lload(W2, wa + k + 3 * K, wt)
                a4 = lload(W2, wa + k + 4 * K, wt)
                b0 = lload(W2, wb + k, wt)
                b1 = lload(W2, wb + k + K, wt)
                b2 = lload(W2, wb + k + 2 * K, wt)
                b3 = lload(W2, wb + k + 3 * K, wt)
                b4 = lload(W2, wb + k + 4 * K, wt)
                c0 = lload(W2, wc + k, wt)
                c1 = lload(W2, wc + k + K, wt)
                c2 = lload(W2, wc + k + 2 * K, wt)
                c3 = lload(W2, wc + k + 3 * K, wt)
                c4 = lload(W2, wc + k + 4 * K, wt)
                e0 = lload(W2, wd + k, wt)
                e1 = lload(W2, wd + k + K, wt)
                e2 = lload(W2, wd + k + 2 * K, wt)
                e3 = lload(W2, wd + k + 3 * K, wt)
                e4 = lload(W2, wd + k + 4 * K, wt)
                for i in range(H2_SIDE):
                    if not PAD <= STRIDE * i + ki < PAD + H1_SIDE:
                        continue        # a padding row: its gradient is dropped
                    rb = (mb + (STRIDE * i + ki) * H1PAD) * K
                    r0 = lload(dh1pad, rb, wt)
                    r1 = lload(dh1pad, rb + K, wt)
                    r2 = lload(dh1pad, rb + 2 * K, wt)
                    for j in range(H2_SIDE):
                        cb = rb + STRIDE * j * K
                        r3 = lload(dh1pad, cb + 3 * K, wt)
                        r4 = lload(dh1pad, cb + 4 * K, wt)
                        p = (i * H2_SIDE + j) * K
                        d = lload(da2, oa + p, wt)
                        if j > 0:
                            r0 = lfma(d, a0, r0)
                            r1 = lfma(d, a1_, r1)
                        r2 = lfma(d, a2_, r2)
                        r3 = lfma(d, a3_, r3)
                        if j < H2_SIDE - 1:
                            r4 = lfma(d, a4, r4)
                        d = lload(da2, ob + p, wt)
                        if j > 0:
                            r0 = lfma(d, b0, r0)
                            r1 = lfma(d, b1, r1)
                        r2 = lfma(d, b2, r2)
                        r3 = lfma(d, b3, r3)
                        if j < H2_SIDE - 1:
                            r4 = lfma(d, b4, r4)
                        d = lload(da2, oc + p, wt)
                        if j > 0:
                            r0 = lfma(d, c0, r0)
                            r1 = lfma(d, c1, r1)
                        r2 = lfma(d, c2, r2)
                        r3 = lfma(d, c3, r3)
                        if j < H2_SIDE - 1:
                            r4 = lfma(d, c4, r4)
                        d = lload(da2, od + p, wt)
                        if j > 0:
                            r0 = lfma(d, e0, r0)
                            r1 = lfma(d, e1, r1)
                        r2 = lfma(d, e2, r2)
                        r3 = lfma(d, e3, r3)
                        if j < H2_SIDE - 1:
                            r4 = lfma(d, e4, r4)
                        lstore(dh1pad, cb, r0)
                        lstore(dh1pad, cb + K, r1)
                        r0 = r2
                        r1 = r3
                        r2 = r4
                    cb = rb + STRIDE * H2_SIDE * K
                    lstore(dh1pad, cb, r0)
                    lstore(dh1pad, cb + K, r1)
                    lstore(dh1pad, cb + 2 * K, r2)
                # -- weight gradient: 4 maps x the 5 taps of kernel row ki, over the 16 positions (with fuse,
                # SGD's step p - lr g at once, from the old weights still in registers)
                s0 = lzero(wt)
                s1 = s0
                s2 = s0
                s3 = s0
                s4 = s0
                t0 = s0
                t1 = s0
                t2 = s0
                t3 = s0
                t4 = s0
                u0 = s0
                u1 = s0
                u2 = s0
                u3 = s0
                u4 = s0
                v0 = s0
                v1 = s0
                v2 = s0
                v3 = s0
                v4 = s0
                for i in range(H2_SIDE):
                    xr = (mb + (STRIDE * i + ki) * H1PAD) * K
                    for j in range(H2_SIDE):
                        p = (i * H2_SIDE + j) * K
                        xo = xr + STRIDE * j * K
                        x0 = lload(h1pad, xo, wt)
                        x1 = lload(h1pad, xo + K, wt)
                        x2 = lload(h1pad, xo + 2 * K, wt)
                        x3 = lload(h1pad, xo + 3 * K, wt)
                        x4 = lload(h1pad, xo + 4 * K, wt)
                        d = lload(da2, oa + p, wt)
                        s0 = lfma(d, x0, s0)
                        s1 = lfma(d, x1, s1)
                        s2 = lfma(d, x2, s2)
                        s3 = lfma(d, x3, s3)
                        s4 = lfma(d, x4, s4)
                        d = lload(da2, ob + p, wt)
                        t0 = lfma(d, x0, t0)
                        t1 = lfma(d, x1, t1)
                        t2 = lfma(d, x2, t2)
                        t3 = lfma(d, x3, t3)
                        t4 = lfma(d, x4, t4)
                        d = lload(da2, oc + p, wt)
                        u0 = lfma(d, x0, u0)
                        u1 = lfma(d, x1, u1)
                        u2 = lfma(d, x2, u2)
                        u3 = lfma(d, x3, u3)
                        u4 = lfma(d, x4, u4)
                        d = lload(da2, od + p, wt)
                        v0 = lfma(d, x0, v0)
                        v1 = lfma(d, x1, v1)
                        v2 = lfma(d, x2, v2)
                        v3 = lfma(d, x3, v3)
                        v4 = lfma(d, x4, v4)
                if fuse:
                    lstore(W2, wa + k, lfma(nlr, s0, a0))
                    lstore(W2, wa + k + K, lfma(nlr, s1, a1_))
                    lstore(W2, wa + k + 2 * K, lfma(nlr, s2, a2_))
                    lstore(W2, wa + k + 3 * K, lfma(nlr, s3, a3_))
                    lstore(W2, wa + k + 4 * K, lfma(nlr, s4, a4))
                    lstore(W2, wb + k, lfma(nlr, t0, b0))
                    lstore(W2, wb + k + K, lfma(nlr, t1, b1))
                    lstore(W2, wb + k + 2 * K, lfma(nlr, t2, b2))
                    lstore(W2, wb + k + 3 * K, lfma(nlr, t3, b3))
                    lstore(W2, wb + k + 4 * K, lfma(nlr, t4, b4))
                    lstore(W2, wc + k, lfma(nlr, u0, c0))
                    lstore(W2, wc + k + K, lfma(nlr, u1, c1))
                    lstore(W2, wc + k + 2 * K, lfma(nlr, u2, c2))
                    lstore(W2, wc + k + 3 * K, lfma(nlr, u3, c3))
                    lstore(W2, wc + k + 4 * K, lfma(nlr, u4, c4))
                    lstore(W2, wd + k, lfma(nlr, v0, e0))
                    lstore(W2, wd + k + K, lfma(nlr, v1, e1))
                    lstore(W2, wd + k + 2 * K, lfma(nlr, v2, e2))
                    lstore(W2, wd + k + 3 * K, lfma(nlr, v3, e3))
                    lstore(W2, wd + k + 4 * K, lfma(nlr, v4, e4))
                else:
                    lstore(G2, wa + k, s0)
                    lstore(G2, wa + k + K, s1)
                    lstore(G2, wa + k + 2 * K, s2)
                    lstore(G2, wa + k + 3 * K, s3)
                    lstore(G2, wa + k + 4 * K, s4)
                    lstore(G2, wb + k, t0)
                    lstore(G2, wb + k + K, t1)
                    lstore(G2, wb + k + 2 * K, t2)
                    lstore(G2, wb + k + 3 * K, t3)
                    lstore(G2, wb + k + 4 * K, t4)
                    lstore(G2, wc + k, u0)
                    lstore(G2, wc + k + K, u1)
                    lstore(G2, wc + k + 2 * K, u2)
                    lstore(G2, wc + k + 3 * K, u3)
                    lstore(G2, wc + k + 4 * K, u4)
                    lstore(G2, wd + k, v0)
                    lstore(G2, wd + k + K, v1)
                    lstore(G2, wd + k + 2 * K, v2)
                    lstore(G2, wd + k + 3 * K, v3)
                    lstore(G2, wd + k + 4 * K, v4)
        else:
            # fewer than 4 maps (a `random` table): one map at a time, the same sums
            for u in range(cnt):
                oa = groups[g, 2 + 2 * u] * P2 * K
                wa = (groups[g, 2 + 2 * u] * W2ROW + groups[g, 3 + 2 * u] * TAPS) * K
                for ki in range(KERNEL):
                    k = ki * KERNEL * K
                    a0 = lload(W2, wa + k, wt)
                    a1_ = lload(W2, wa + k + K, wt)
                    a2_ = lload(W2, wa + k + 2 * K, wt)
                    a3_ = lload(W2, wa + k + 3 * K, wt)
                    a4 = lload(W2, wa + k + 4 * K, wt)
                    for i in range(H2_SIDE):
                        if not PAD <= STRIDE * i + ki < PAD + H1_SIDE:
                            continue
                        rb = (mb + (STRIDE * i + ki) * H1PAD) * K
                        r0 = lload(dh1pad, rb, wt)
                        r1 = lload(dh1pad, rb + K, wt)
                        r2 = lload(dh1pad, rb + 2 * K, wt)
                        for j in range(H2_SIDE):
                            cb = rb + STRIDE * j * K
                            r3 = lload(dh1pad, cb + 3 * K, wt)
                            r4 = lload(dh1pad, cb + 4 * K, wt)
                            d = lload(da2, oa + (i * H2_SIDE + j) * K, wt)
                            if j > 0:
                                r0 = lfma(d, a0, r0)
                                r1 = lfma(d, a1_, r1)
                            r2 = lfma(d, a2_, r2)
                            r3 = lfma(d, a3_, r3)
                            if j < H2_SIDE - 1:
                                r4 = lfma(d, a4, r4)
                            lstore(dh1pad, cb, r0)
                            lstore(dh1pad, cb + K, r1)
                            r0 = r2
                            r1 = r3
                            r2 = r4
                        cb = rb + STRIDE * H2_SIDE * K
                        lstore(dh1pad, cb, r0)
                        lstore(dh1pad, cb + K, r1)
                        lstore(dh1pad, cb + 2 * K, r2)
                    s0 = lzero(wt)
                    s1 = s0
                    s2 = s0
                    s3 = s0
                    s4 = s0
                    for i in range(H2_SIDE):
                        xr = (mb + (STRIDE * i + ki) * H1PAD) * K
                        for j in range(H2_SIDE):
                            xo = xr + STRIDE * j * K
                            d = lload(da2, oa + (i * H2_SIDE + j) * K, wt)
                            s0 = lfma(d, lload(h1pad, xo, wt), s0)
                            s1 = lfma(d, lload(h1pad, xo + K, wt), s1)
                            s2 = lfma(d, lload(h1pad, xo + 2 * K, wt), s2)
                            s3 = lfma(d, lload(h1pad, xo + 3 * K, wt), s3)
                            s4 = lfma(d, lload(h1pad, xo + 4 * K, wt), s4)
                    if fuse:
                        lstore(W2, wa + k, lfma(nlr, s0, a0))
                        lstore(W2, wa + k + K, lfma(nlr, s1, a1_))
                        lstore(W2, wa + k + 2 * K, lfma(nlr, s2, a2_))
                        lstore(W2, wa + k + 3 * K, lfma(nlr, s3, a3_))
                        lstore(W2, wa + k + 4 * K, lfma(nlr, s4, a4))
                    else:
                        lstore(G2, wa + k, s0)
                        lstore(G2, wa + k + K, s1)
                        lstore(G2, wa + k + 2 * K, s2)
                        lstore(G2, wa + k + 3 * K, s3)
                        lstore(G2, wa + k + 4 * K, s4)


@njit(**LJIT)
def _h1_backward(dh1pad, d1, xpad, GB1, G1, fuse, lr32, W1, B1, da1, wt):
    """Autograd of F.pad + act + the H1 conv: da1 = dh1pad's interior x act'(a1) -> GB1 (H1b's
    gradient, one per unit); H1w's gradient G1[m, tap] = sum over the 64 positions (in order,
    from 0) of da1 x the input under the tap. Register tile: 4 maps x the 5 taps of a kernel row.
    With fuse (SGD): da1 goes to the scratch da1 and the steps p - lr g of H1b and H1w are taken
    here (G1, GB1 not written); else da1 is GB1."""
    K = len(wt)
    nlr = lsplat(-lr32, wt)
    if not fuse:
        da1 = GB1
    for m in range(H1_MAPS):
        for r in range(H1_SIDE):
            src = ((m * H1PAD + r + PAD) * H1PAD + PAD) * K
            dst = (m * P1 + r * H1_SIDE) * K
            for t in range(H1_SIDE * K):
                da1[dst + t] = dh1pad[src + t] * d1[dst + t]
            if fuse:
                for c in range(0, H1_SIDE * K, K):
                    lstore(B1, dst + c, lfma(nlr, lload(da1, dst + c, wt), lload(B1, dst + c, wt)))
    for m in range(0, H1_MAPS, 4):
        oa = m * P1 * K
        ob = oa + P1 * K
        oc = ob + P1 * K
        od = oc + P1 * K
        for ki in range(KERNEL):
            s0 = lzero(wt)
            s1 = s0
            s2 = s0
            s3 = s0
            s4 = s0
            t0 = s0
            t1 = s0
            t2 = s0
            t3 = s0
            t4 = s0
            u0 = s0
            u1 = s0
            u2 = s0
            u3 = s0
            u4 = s0
            v0 = s0
            v1 = s0
            v2 = s0
            v3 = s0
            v4 = s0
            for i in range(H1_SIDE):
                xr = (STRIDE * i + ki) * XPAD * K
                for j in range(H1_SIDE):
                    p = (i * H1_SIDE + j) * K
                    xo = xr + STRIDE * j * K
                    x0 = lload(xpad, xo, wt)
                    x1 = lload(xpad, xo + K, wt)
                    x2 = lload(xpad, xo + 2 * K, wt)
                    x3 = lload(xpad, xo + 3 * K, wt)
                    x4 = lload(xpad, xo + 4 * K, wt)
                    d = lload(da1, oa + p, wt)
                    s0 = lfma(d, x0, s0)
                    s1 = lfma(d, x1, s1)
                    s2 = lfma(d, x2, s2)
                    s3 = lfma(d, x3, s3)
                    s4 = lfma(d, x4, s4)
                    d = lload(da1, ob + p, wt)
                    t0 = lfma(d, x0, t0)
                    t1 = lfma(d, x1, t1)
                    t2 = lfma(d, x2, t2)
                    t3 = lfma(d, x3, t3)
                    t4 = lfma(d, x4, t4)
                    d = lload(da1, oc + p, wt)
                    u0 = lfma(d, x0, u0)
                    u1 = lfma(d, x1, u1)
                    u2 = lfma(d, x2, u2)
                    u3 = lfma(d, x3, u3)
                    u4 = lfma(d, x4, u4)
                    d = lload(da1, od + p, wt)
                    v0 = lfma(d, x0, v0)
                    v1 = lfma(d, x1, v1)
                    v2 = lfma(d, x2, v2)
                    v3 = lfma(d, x3, v3)
                    v4 = lfma(d, x4, v4)
            k = (m * TAPS + ki * KERNEL) * K
            if fuse:
                lstore(W1, k, lfma(nlr, s0, lload(W1, k, wt)))
            else:
                lstore(G1, k, s0)
            if fuse:
                lstore(W1, k + K, lfma(nlr, s1, lload(W1, k + K, wt)))
            else:
                lstore(G1, k + K, s1)
            if fuse:
                lstore(W1, k + 2 * K, lfma(nlr, s2, lload(W1, k + 2 * K, wt)))
            else:
                lstore(G1, k + 2 * K, s2)
            if fuse:
                lstore(W1, k + 3 * K, lfma(nlr, s3, lload(W1, k + 3 * K, wt)))
            else:
                lstore(G1, k + 3 * K, s3)
            if fuse:
                lstore(W1, k + 4 * K, lfma(nlr, s4, lload(W1, k + 4 * K, wt)))
            else:
                lstore(G1, k + 4 * K, s4)
            k += TAPS * K
            if fuse:
                lstore(W1, k, lfma(nlr, t0, lload(W1, k, wt)))
            else:
                lstore(G1, k, t0)
            if fuse:
                lstore(W1, k + K, lfma(nlr, t1, lload(W1, k + K, wt)))
            else:
                lstore(G1, k + K, t1)
            if fuse:
                lstore(W1, k + 2 * K, lfma(nlr, t2, lload(W1, k + 2 * K, wt)))
            else:
                lstore(G1, k + 2 * K, t2)
            if fuse:
                lstore(W1, k + 3 * K, lfma(nlr, t3, lload(W1, k + 3 * K, wt)))
            else:
                lstore(G1, k + 3 * K, t3)
            if fuse:
                lstore(W1, k + 4 * K, lfma(nlr, t4, lload(W1, k + 4 * K, wt)))
            else:
                lstore(G1, k + 4 * K, t4)
            k += TAPS * K
            if fuse:
                lstore(W1, k, lfma(nlr, u0, lload(W1, k, wt)))
            else:
                lstore(G1, k, u0)
            if fuse:
                lstore(W1, k + K, lfma(nlr, u1, lload(W1, k + K, wt)))
            else:
                lstore(G1, k + K, u1)
            if fuse:
                lstore(W1, k + 2 * K, lfma(nlr, u2, lload(W1, k + 2 * K, wt)))
            else:
                lstore(G1, k + 2 * K, u2)
            if fuse:
                lstore(W1, k + 3 * K, lfma(nlr, u3, lload(W1, k + 3 * K, wt)))
            else:
                lstore(G1, k + 3 * K, u3)
            if fuse:
                lstore(W1, k + 4 * K, lfma(nlr, u4, lload(W1, k + 4 * K, wt)))
            else:
                lstore(G1, k + 4 * K, u4)
            k += TAPS * K
            if fuse:
                lstore(W1, k, lfma(nlr, v0, lload(W1, k, wt)))
            else:
                lstore(G1, k, v0)
            if fuse:
                lstore(W1, k + K, lfma(nlr, v1, lload(W1, k + K, wt)))
            else:
                lstore(G1, k + K, v1)
            if fuse:
                lstore(W1, k + 2 * K, lfma(nlr, v2, lload(W1, k + 2 * K, wt)))
            else:
                lstore(G1, k + 2 * K, v2)
            if fuse:
                lstore(W1, k + 3 * K, lfma(nlr, v3, lload(W1, k + 3 * K, wt)))
            else:
                lstore(G1, k + 3 * K, v3)
            if fuse:
                lstore(W1, k + 4 * K, lfma(nlr, v4, lload(W1, k + 4 * K, wt)))
            else:
                lstore(G1, k + 4 * K, v4)


@njit(**LJIT)
def _h3_backward(dh3, W3, h2d, G3, dh2, sgd, lr32, sq, wt):
    """Autograd of a3 = h2d @ H3w + H3b: dh2[q] = sum_u dh3[u] H3w[q, u] (u in order, from 0) and
    H3w's gradient dh3[u] h2d[q]; 8 H2 units at a time. With sgd, H3w's step p - lr g (one fused
    multiply-add) is taken right after p's last use and no gradient is stored. With sq (sdlm's
    diagonal) the same on squared weights and inputs."""
    K = len(wt)
    nlr = lsplat(-lr32, wt)
    for q in range(0, H2_UNITS, 8):
        x0 = lload(h2d, q * K, wt)
        x1 = lload(h2d, (q + 1) * K, wt)
        x2 = lload(h2d, (q + 2) * K, wt)
        x3 = lload(h2d, (q + 3) * K, wt)
        x4 = lload(h2d, (q + 4) * K, wt)
        x5 = lload(h2d, (q + 5) * K, wt)
        x6 = lload(h2d, (q + 6) * K, wt)
        x7 = lload(h2d, (q + 7) * K, wt)
        if sq:
            x0 = lmul(x0, x0)
            x1 = lmul(x1, x1)
            x2 = lmul(x2, x2)
            x3 = lmul(x3, x3)
            x4 = lmul(x4, x4)
            x5 = lmul(x5, x5)
            x6 = lmul(x6, x6)
            x7 = lmul(x7, x7)
        s0 = lzero(wt)
        s1 = s0
        s2 = s0
        s3 = s0
        s4 = s0
        s5 = s0
        s6 = s0
        s7 = s0
        for u in range(H3_UNITS):
            g = lload(dh3, u * K, wt)
            r0 = (q * H3_UNITS + u) * K
            r1 = r0 + H3_UNITS * K
            r2 = r1 + H3_UNITS * K
            r3 = r2 + H3_UNITS * K
            r4 = r3 + H3_UNITS * K
            r5 = r4 + H3_UNITS * K
            r6 = r5 + H3_UNITS * K
            r7 = r6 + H3_UNITS * K
            w0 = lload(W3, r0, wt)
            w1 = lload(W3, r1, wt)
            w2 = lload(W3, r2, wt)
            w3 = lload(W3, r3, wt)
            w4 = lload(W3, r4, wt)
            w5 = lload(W3, r5, wt)
            w6 = lload(W3, r6, wt)
            w7 = lload(W3, r7, wt)
            if sq:
                s0 = lfma(g, lmul(w0, w0), s0)
                s1 = lfma(g, lmul(w1, w1), s1)
                s2 = lfma(g, lmul(w2, w2), s2)
                s3 = lfma(g, lmul(w3, w3), s3)
                s4 = lfma(g, lmul(w4, w4), s4)
                s5 = lfma(g, lmul(w5, w5), s5)
                s6 = lfma(g, lmul(w6, w6), s6)
                s7 = lfma(g, lmul(w7, w7), s7)
            else:
                s0 = lfma(g, w0, s0)
                s1 = lfma(g, w1, s1)
                s2 = lfma(g, w2, s2)
                s3 = lfma(g, w3, s3)
                s4 = lfma(g, w4, s4)
                s5 = lfma(g, w5, s5)
                s6 = lfma(g, w6, s6)
                s7 = lfma(g, w7, s7)
            if sgd:
                lstore(W3, r0, lfma(nlr, lmul(g, x0), w0))
                lstore(W3, r1, lfma(nlr, lmul(g, x1), w1))
                lstore(W3, r2, lfma(nlr, lmul(g, x2), w2))
                lstore(W3, r3, lfma(nlr, lmul(g, x3), w3))
                lstore(W3, r4, lfma(nlr, lmul(g, x4), w4))
                lstore(W3, r5, lfma(nlr, lmul(g, x5), w5))
                lstore(W3, r6, lfma(nlr, lmul(g, x6), w6))
                lstore(W3, r7, lfma(nlr, lmul(g, x7), w7))
            else:
                lstore(G3, r0, lmul(g, x0))
                lstore(G3, r1, lmul(g, x1))
                lstore(G3, r2, lmul(g, x2))
                lstore(G3, r3, lmul(g, x3))
                lstore(G3, r4, lmul(g, x4))
                lstore(G3, r5, lmul(g, x5))
                lstore(G3, r6, lmul(g, x6))
                lstore(G3, r7, lmul(g, x7))
        lstore(dh2, q * K, s0)
        lstore(dh2, (q + 1) * K, s1)
        lstore(dh2, (q + 2) * K, s2)
        lstore(dh2, (q + 3) * K, s3)
        lstore(dh2, (q + 4) * K, s4)
        lstore(dh2, (q + 5) * K, s5)
        lstore(dh2, (q + 6) * K, s6)
        lstore(dh2, (q + 7) * K, s7)


@njit(**LJIT)
def _adamw(theta, grad, madam, vadam, lr, step):
    """torch.optim.AdamW, single-tensor path, amsgrad False, lane by lane (as fast._adamw):
    decoupled decay p *= 1 - lr wd, then Adam with bias correction; the scalars in float64 as
    torch computes them in Python."""
    bc1 = 1.0 - ADAM_BETA1 ** step
    bc2s = math.sqrt(1.0 - ADAM_BETA2 ** step)
    decay = F32(1.0 - lr * ADAM_WD)
    b1c = F32(1.0 - ADAM_BETA1)
    b2 = F32(ADAM_BETA2)
    b2c = F32(1.0 - ADAM_BETA2)
    ssize = F32(lr / bc1)
    bc2 = F32(bc2s)
    eps = F32(ADAM_EPS)
    for t in range(theta.size):
        g = grad[t]
        mt = madam[t] + b1c * (g - madam[t])      # exp_avg.lerp_(grad, 1 - beta1)
        vt = vadam[t] * b2 + b2c * g * g         # exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2)
        madam[t] = mt
        vadam[t] = vt
        denom = np.sqrt(vt) / bc2 + eps          # (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
        theta[t] = theta[t] * decay - ssize * (mt / denom)


# -- the entry point ------------------------------------------------------------------------------
@njit(**LJIT)
def _kernel(mode, wt, X, labels, sidx, use_sample, shifts, use_shift, masks, use_mask, lr, act, head,
            out_act, opt, step0, theta, grad, madam, vadam, hdiag, coef, hx, hacc, mu, running,
            result, tgt, cmse, d2mse, groups, S):
    """mode MODE_TRAIN: train.TorchEngine.train_pass over examples 0..N-1 in every lane: per
    example forward, loss, backward, one optimizer step; returns the step count. sdlm: hdiag is
    the diagonal (theta's layout); with running > 0 it is updated after each step from the
    example's own diagonal, as TorchEngine._sdlm_step does.
    MODE_PREDICT: model.forward in eval mode for every example -> result (K, N, 10).
    MODE_HESSIAN: sdlm.gn_diagonal over each lane's sample X[sidx[l]]: per-example diagonals
    summed in float64 (hacc), then hdiag = hacc / N."""
    K = len(wt)
    n = sidx.shape[1] if mode == MODE_HESSIAN else X.shape[0]
    one = F32(1.0)
    lr32 = F32(lr)
    mu32 = F32(mu)
    g32 = F32(running)
    g1 = F32(1.0 - running)
    tgt32 = F32(tgt)
    cm32 = F32(cmse)
    d2m = lsplat(F32(d2mse), wt)
    step = step0
    xpad = S[S_XPAD * K:(S_XPAD + XPAD * XPAD) * K]
    xpsq = S[S_XPSQ * K:(S_XPSQ + XPAD * XPAD) * K]
    d1 = S[S_D1 * K:(S_D1 + H1_MAPS * P1) * K]
    h1pad = S[S_H1PAD * K:(S_H1PAD + H1_MAPS * H1PAD * H1PAD) * K]
    h1psq = S[S_H1PSQ * K:(S_H1PSQ + H1_MAPS * H1PAD * H1PAD) * K]
    d2 = S[S_D2 * K:(S_D2 + H2_UNITS) * K]
    h2 = S[S_H2 * K:(S_H2 + H2_UNITS) * K]
    h2d = S[S_H2D * K:(S_H2D + H2_UNITS) * K]
    h3 = S[S_H3 * K:(S_H3 + H3_UNITS) * K]
    d3 = S[S_D3 * K:(S_D3 + H3_UNITS) * K]
    z = S[S_Z * K:(S_Z + OUTPUTS) * K]
    out = S[S_OUT * K:(S_OUT + OUTPUTS) * K]
    dout = S[S_DOUT * K:(S_DOUT + OUTPUTS) * K]
    dz = S[S_DZ * K:(S_DZ + OUTPUTS) * K]
    dh3 = S[S_DH3 * K:(S_DH3 + H3_UNITS) * K]
    dh2 = S[S_DH2 * K:(S_DH2 + H2_UNITS) * K]
    da2 = S[S_DA2 * K:(S_DA2 + H2_UNITS) * K]
    dh1pad = S[S_DH1PAD * K:(S_DH1PAD + H1_MAPS * H1PAD * H1PAD) * K]
    w2sq = S[S_W2SQ * K:(S_W2SQ + H2_MAPS * W2ROW) * K]
    a1 = S[S_A1 * K:(S_A1 + H1_MAPS * P1) * K]
    W1 = theta[O_W1 * K:O_B1 * K]
    B1 = theta[O_B1 * K:O_W2 * K]
    W2 = theta[O_W2 * K:O_B2 * K]
    B2 = theta[O_B2 * K:O_W3 * K]
    W3 = theta[O_W3 * K:O_B3 * K]
    B3 = theta[O_B3 * K:O_W4 * K]
    W4 = theta[O_W4 * K:O_B4 * K]
    B4 = theta[O_B4 * K:N_PARAMS * K]
    nlr = lsplat(-lr32, wt)
    if mode == MODE_HESSIAN:
        for t in range(hacc.size):
            hacc[t] = 0.0
    if mode == MODE_TRAIN and opt == 2 and running == 0.0:
        # TorchEngine._sdlm_step: lr / (mu + h), which torch computes as (mu + h).reciprocal() * lr
        for t in range(theta.size):
            coef[t] = (one / (mu32 + hdiag[t])) * lr32
    rounds = 2 if (mode == MODE_TRAIN and opt == 2 and running > 0.0) else 1
    sgd_h3 = mode == MODE_TRAIN and opt == 0
    deriv = mode != MODE_PREDICT
    for it in range(n * rounds):
        e = it // rounds
        gn = mode == MODE_HESSIAN or it % rounds == 1
        drop = use_mask and not gn
        _forward(X, e, sidx, use_sample, shifts, use_shift, masks, drop, act, out_act, deriv,
                 theta, groups, S, wt)
        if mode == MODE_PREDICT:
            for j in range(OUTPUTS):
                for lane in range(K):
                    result[lane, e, j] = out[j * K + lane]
            continue
        # the gradient (training) or the Gauss-Newton diagonal (sdlm) into G = grad or hx
        G = hx if gn else grad
        G1 = G[O_W1 * K:O_B1 * K]
        GB1 = G[O_B1 * K:O_W2 * K]
        G2 = G[O_W2 * K:O_B2 * K]
        GB2 = G[O_B2 * K:O_W3 * K]
        G3 = G[O_W3 * K:O_B3 * K]
        GB3 = G[O_B3 * K:O_W4 * K]
        G4 = G[O_W4 * K:O_B4 * K]
        GB4 = G[O_B4 * K:N_PARAMS * K]
        # -- at the output pre-activation z
        if gn:
            # sdlm.output_d2: tanh head f'(a4)^2 d2mse; linear head p (1 - p) of softmax(a4)
            if head == HEAD_SQUASH:
                for j in range(OUTPUTS):
                    f = lload(dout, j * K, wt)
                    lstore(dz, j * K, lmul(lmul(f, f), d2m))
            else:
                _softmax(z, dz, wt)
                for t in range(OUTPUTS * K):
                    dz[t] = dz[t] * (one - dz[t])
        else:
            lab = labels[e]
            if head == HEAD_SQUASH:
                # loss = mean((y - out)^2) (Config.mse_norm: the factor cmse), y = +-tgt
                for j in range(OUTPUTS):
                    y = lsplat(tgt32 if j == lab else -tgt32, wt)
                    d = lmul(lmul(lsplat(cm32, wt), lsub(lload(out, j * K, wt), y)), lload(dout, j * K, wt))
                    lstore(dz, j * K, d)
            else:
                # F.cross_entropy(z, label) -> softmax(z) - onehot(label)
                _softmax(z, dz, wt)
                for t in range(K):
                    dz[lab * K + t] = dz[lab * K + t] - one
        # -- autograd of z = h3 @ outw + outb, then of H3's act (gn: squared). With SGD (fuse) every
        # layer's step p - lr g (one fused multiply-add, as the SGD loop below would take it) is
        # taken as soon as its gradient is known and its old weights were used: no gradient is stored
        fuse = sgd_h3 and not gn
        if fuse:
            for t in range(0, OUTPUTS * K, K):
                lstore(B4, t, lfma(nlr, lload(dz, t, wt), lload(B4, t, wt)))
        else:
            for t in range(OUTPUTS * K):
                GB4[t] = dz[t]
        for u in range(H3_UNITS):
            x = lload(h3, u * K, wt)
            f = lload(d3, u * K, wt)
            if gn:
                x = lmul(x, x)
                f = lmul(f, f)
            s = lzero(wt)
            for j in range(OUTPUTS):
                d = lload(dz, j * K, wt)
                w = lload(W4, (u * OUTPUTS + j) * K, wt)
                if gn:
                    w = lmul(w, w)
                if fuse:
                    lstore(W4, (u * OUTPUTS + j) * K, lfma(nlr, lmul(x, d), w))
                else:
                    lstore(G4, (u * OUTPUTS + j) * K, lmul(x, d))
                s = lfma(w, d, s)
            lstore(dh3, u * K, lmul(s, f))
        if fuse:
            for t in range(0, H3_UNITS * K, K):
                lstore(B3, t, lfma(nlr, lload(dh3, t, wt), lload(B3, t, wt)))
        else:
            for t in range(H3_UNITS * K):
                GB3[t] = dh3[t]
        # -- autograd of a3 = h2d @ H3w + H3b (h2 itself without a mask, as in _forward)
        _h3_backward(dh3, W3, h2d if drop else h2, G3, dh2, fuse, lr32, gn, wt)
        # -- the dropout mask and H2's act: da2 = dh2 * mask * act'(a2) (gn: squared act')
        if drop:
            for q in range(H2_UNITS):
                for lane in range(K):
                    dh2[q * K + lane] = dh2[q * K + lane] * masks[lane, e, q]
        if gn:
            for t in range(H2_UNITS * K):
                g = dh2[t] * (d2[t] * d2[t])
                da2[t] = g
                GB2[t] = g
        elif fuse:
            for t in range(0, H2_UNITS * K, K):
                g = lmul(lload(dh2, t, wt), lload(d2, t, wt))
                lstore(da2, t, g)
                lstore(B2, t, lfma(nlr, g, lload(B2, t, wt)))
        else:
            for t in range(H2_UNITS * K):
                da2[t] = dh2[t] * d2[t]
            for t in range(H2_UNITS * K):
                GB2[t] = da2[t]
        # -- H2 and H1: one call site each for training and the sdlm diagonal (squared weights,
        # inputs and derivatives; the padding is a constant: its cells are dropped)
        if gn:
            for t in range(w2sq.size):
                w2sq[t] = W2[t] * W2[t]
            for t in range(h1psq.size):
                h1psq[t] = h1pad[t] * h1pad[t]
            for t in range(xpsq.size):
                xpsq[t] = xpad[t] * xpad[t]
            for t in range(d1.size):
                d1[t] = d1[t] * d1[t]
        _h2_backward(da2, w2sq if gn else W2, h1psq if gn else h1pad, G2, dh1pad, groups, fuse, lr32, wt)
        _h1_backward(dh1pad, d1, xpsq if gn else xpad, GB1, G1, fuse, lr32, W1, B1, a1, wt)
        if gn:
            if mode == MODE_HESSIAN:
                for t in range(hacc.size):
                    hacc[t] += hx[t]
            else:
                # h <- (1 - g) h + g h_example (TorchEngine._sdlm_step)
                for t in range(theta.size):
                    hdiag[t] = g1 * hdiag[t] + g32 * hx[t]
            continue
        # -- optimizer step over the flat parameter vector
        step += 1
        if opt == 0:
            pass    # torch.optim.SGD, p -= lr * g: taken in the backward pass above (fuse)
        elif opt == 1:
            _adamw(theta, grad, madam, vadam, lr, step)
        elif running == 0.0:
            for t in range(theta.size):
                theta[t] -= coef[t] * grad[t]
        else:
            for t in range(theta.size):
                theta[t] -= ((one / (mu32 + hdiag[t])) * lr32) * grad[t]
    if mode == MODE_HESSIAN:
        for t in range(hacc.size):
            hdiag[t] = hacc[t] / n
    return step


# -- the engine ----------------------------------------------------------------------------------
def _aligned(n: int, dtype, fill=0.0) -> np.ndarray:
    """np.full(n, fill, dtype) starting on a cache line (every lane vector of 16 floats is one)."""
    dt = np.dtype(dtype)
    raw = np.empty(n * dt.itemsize + ALIGN, np.uint8)
    off = -raw.ctypes.data % ALIGN
    a = raw[off:off + n * dt.itemsize].view(dt)
    a[...] = fill
    return a


def _numpy(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    import torch
    return torch.as_tensor(x).detach().cpu().numpy()


def _images(x) -> np.ndarray:
    a = _numpy(x)
    return np.ascontiguousarray(a.reshape(a.shape[0], IMAGE, IMAGE), dtype=np.float32)


class LockstepEngine:
    """K runs of one config in lockstep, one per vector lane.

    models: the runs' initial nets (1..K of them; the group is padded to K lanes with copies of
    the last, whose results are dropped). k: the lane count (default `cpu_lanes()`).
    Interface as train.TorchEngine, with one entry per run: `train_pass(x, labels, lr,
    shifts=[...], masks=[...])`, `predict(x) -> [outputs]`, `state_dicts() -> [state]`,
    `estimate_hessian(x, samples=[indices])`."""

    name = "lockstep"

    def __init__(self, cfg: Config, models: list, *, k: int | None = None) -> None:
        self.cfg = cfg
        self.k = int(k or cpu_lanes())
        self.runs = len(models)
        if not 1 <= self.runs <= self.k:
            raise ValueError(f"a lockstep group holds 1..{self.k} runs, got {self.runs}")
        self.wt = width_tag(self.k)
        K = self.k
        self.theta = _aligned(N_PARAMS * K, np.float32)
        self.grad = _aligned(N_PARAMS * K, np.float32)
        adam = cfg.optimizer == "adamw"
        self.madam = _aligned(N_PARAMS * K if adam else K, np.float32)
        self.vadam = _aligned(N_PARAMS * K if adam else K, np.float32)
        sd = cfg.optimizer == "sdlm"
        self.hdiag = _aligned(N_PARAMS * K if sd else K, np.float32)
        self.coef = _aligned(N_PARAMS * K if sd else K, np.float32)
        self.hx = _aligned(N_PARAMS * K if sd else K, np.float32)
        self.hacc = _aligned(N_PARAMS * K if sd else K, np.float64)
        self.S = _aligned(N_SCRATCH * K, np.float32)
        # the padding borders are constants: -1 (and 1 for the squares of sdlm's diagonal)
        view = self.S.reshape(N_SCRATCH, K)
        for name, side, inner, maps in (("xpad", XPAD, IMAGE, 1), ("h1pad", H1PAD, H1_SIDE, H1_MAPS)):
            v = view[SCR[name]:SCR[name] + maps * side * side].reshape(maps, side, side, K)
            v[...] = BG
            v[:, PAD:PAD + inner, PAD:PAD + inner] = 0.0
        for name, sq in (("xpsq", "xpad"), ("h1psq", "h1pad")):
            n = {"xpsq": XPAD * XPAD, "h1psq": H1_MAPS * H1PAD * H1PAD}[name]
            view[SCR[name]:SCR[name] + n] = view[SCR[sq]:SCR[sq] + n] ** 2
        self.groups = h2_groups(table_of(cfg))
        self.step = 0
        self.act, self.head, self.out_act = activation_codes(cfg)
        self.opt = OPT[cfg.optimizer]
        self.target = float(cfg.target)
        self.cmse = MSE_FACTOR[cfg.mse_norm]
        self._no_sidx = np.zeros((K, 1), np.int64)
        self._no_shifts = np.zeros((K, 1, 2), np.int64)
        self._no_masks = np.ones((K, 1, H2_UNITS), np.float32)
        self._no_labels = np.zeros(1, np.int64)
        self._no_result = np.zeros((K, 1, OUTPUTS), np.float32)
        states = [m.state_dict() for m in models]
        self.load_state_dicts(states + [states[-1]] * (K - self.runs))

    # -- weights ---------------------------------------------------------------------------------
    def _lanes(self, a: np.ndarray) -> np.ndarray:
        return a.reshape(N_PARAMS, self.k)

    def load_state_dicts(self, states: list) -> None:
        th = self._lanes(self.theta)
        for lane, state in enumerate(states):
            for name in PARAM_SHAPES:
                w = state[name].detach().cpu().numpy().astype(np.float32).reshape(-1)
                th[OFFSETS[name]:OFFSETS[name] + w.size, lane] = w

    def _to_models(self, a: np.ndarray) -> list:
        import torch
        lanes = self._lanes(a)
        out = []
        for lane in range(self.runs):
            d = {}
            for name, shape in PARAM_SHAPES.items():
                o = OFFSETS[name]
                d[name] = torch.from_numpy(np.ascontiguousarray(lanes[o:o + _SIZES[name], lane]).reshape(shape).copy())
            out.append(d)
        return out

    def state_dicts(self) -> list:
        """Each run's weights as the model's state_dict (a copy)."""
        return self._to_models(self.theta)

    def hessians(self) -> list:
        """Each run's sdlm diagonal, {name: tensor in the model's shape}."""
        return self._to_models(self.hdiag)

    # -- per-run arrays -> lane arrays -------------------------------------------------------------
    def _per_lane(self, items, n: int, shape, dtype, fill):
        """(K, n, *shape) from one array per run (None: none given), the padding lanes copying the
        last run's."""
        if items is None or all(v is None for v in items):
            return None
        if len(items) != self.runs:
            raise ValueError(f"expected {self.runs} per-run arrays, got {len(items)}")
        out = np.empty((self.k, n) + shape, dtype)
        for lane in range(self.k):
            v = items[min(lane, self.runs - 1)]
            out[lane] = fill if v is None else np.asarray(v, dtype=dtype).reshape((n,) + shape)
        return out

    def _call(self, mode, X, labels=None, sidx=None, shifts=None, masks=None, lr=0.0, result=None) -> int:
        return _kernel(mode, self.wt, X, self._no_labels if labels is None else labels,
                       self._no_sidx if sidx is None else sidx, sidx is not None,
                       self._no_shifts if shifts is None else shifts, shifts is not None,
                       self._no_masks if masks is None else masks, masks is not None,
                       float(lr), self.act, self.head, self.out_act, self.opt, self.step,
                       self.theta, self.grad, self.madam, self.vadam, self.hdiag, self.coef, self.hx,
                       self.hacc, float(self.cfg.sdlm_mu), float(self.cfg.sdlm_running),
                       self._no_result if result is None else result, self.target, self.cmse, self.cmse,
                       self.groups, self.S)

    # -- sdlm ------------------------------------------------------------------------------------
    def estimate_hessian(self, x, samples: list) -> None:
        """sdlm: each run's Gauss-Newton diagonal averaged over its own sample x[samples[run]]
        (train.sdlm_sample of each run's seed; all of one size)."""
        sidx = self._per_lane(samples, len(samples[0]), (), np.int64, 0)
        self._call(MODE_HESSIAN, _images(x), sidx=np.ascontiguousarray(sidx))

    # -- training and prediction ----------------------------------------------------------------------
    def train_pass(self, x, labels, lr: float, shifts: list | None = None, masks: list | None = None,
                   progress=None) -> None:
        """One pass over the training digits in every lane; shifts / masks: one (N, 2) / (N, 192)
        array (or None) per run, as train.make_streams(cfg).next_pass gives them."""
        X = _images(x)
        n = X.shape[0]
        lab = np.ascontiguousarray(_numpy(labels), dtype=np.int64)
        sh = self._per_lane(shifts, n, (2,), np.int64, 0)
        mk = self._per_lane(masks, n, (H2_UNITS,), np.float32, 1.0)
        if sh is not None:
            assert np.all(np.abs(sh) <= 1), "shifts must be in {-1, 0, 1}"
        chunk = n if progress is None else 1024
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            self.step = self._call(MODE_TRAIN, X[lo:hi], lab[lo:hi],
                                   shifts=None if sh is None else np.ascontiguousarray(sh[:, lo:hi]),
                                   masks=None if mk is None else np.ascontiguousarray(mk[:, lo:hi]), lr=lr)
            if progress is not None:
                progress(hi - lo)

    def predict_numpy(self, X: np.ndarray) -> np.ndarray:
        """Outputs (runs, N, 10) of every run for images X (N, 16, 16) float32."""
        result = np.empty((self.k, X.shape[0], OUTPUTS), np.float32)
        self._call(MODE_PREDICT, X, result=result)
        return result[:self.runs]

    def predict(self, x) -> list:
        import torch
        r = self.predict_numpy(_images(x))
        return [torch.from_numpy(r[i]) for i in range(self.runs)]


class SingleRun:
    """One run on the lockstep engine, with train.TorchEngine's interface (for train.run and
    make_engine("lockstep", ...)): lane 0 of a group whose other lanes repeat it. The numbers
    are those the run gets in any group (a lane does not depend on its neighbours); for many
    seeds `run_group` trains K of them at once instead. A group of 4 lanes by default: the
    smallest vectors, so that a lone run wastes the least work (the fast engine is still the
    faster engine for one run)."""

    name = "lockstep"
    LANES = 4

    def __init__(self, cfg: Config, model, *, k: int | None = None) -> None:
        self.cfg = cfg
        self.group = LockstepEngine(cfg, [model], k=k or self.LANES)

    def train_pass(self, x, labels, lr, shifts=None, masks=None, progress=None) -> None:
        self.group.train_pass(x, labels, lr, [shifts], [masks], progress)

    def estimate_hessian(self, x) -> None:
        self.group.estimate_hessian(x, [np.arange(x.shape[0])])

    def hessian(self) -> dict:
        return self.group.hessians()[0]

    def predict(self, x):
        return self.group.predict(x)[0]

    def state_dict(self) -> dict:
        return self.group.state_dicts()[0]


def group_lanes(runs: int, k: int) -> int:
    """The lanes of a group of `runs` runs when groups hold up to k: k, or for a last group of at
    most k/2 runs the smallest power of two (at least 4) that holds it - a narrower vector costs
    less per example (CPU seconds per group and example on the AVX-512 machine, 2026-12-02:
    K = 4: 26, 8: 28, 16: 43 us) and gives every run the same numbers."""
    if runs >= k:
        return k
    return min(k, max(4, 1 << (runs - 1).bit_length()))


def run_group(cfg: Config, seeds, *, data=None, data_root=None, out_dirs=None, k: int | None = None,
              eval_train: bool = True, on_pass=None) -> list:
    """train.run for each of `seeds` (cfg with its seed replaced), trained K at a time in lockstep.
    Returns one train.RunResult per seed, in order, with the records and weights train.run gives
    for that seed (to float32 rounding against the fast engine; a run's numbers do not depend on
    which seeds share its group, nor on K). The last group holds the remaining seeds, in
    `group_lanes` lanes (padded with copies of its last run, whose results are dropped).

    out_dirs: one folder per seed (or None) for config.json, metrics.jsonl, rejection.json and
    checkpoint.pt, as train.run writes them. on_pass(seed, pass_number, train_record, test_record)
    after each pass of each run. A run whose loss becomes non-finite stops as in train.run (its
    lane goes on computing in the group, unrecorded)."""
    k = int(k or cpu_lanes())
    seeds = list(seeds)
    if out_dirs is not None and len(out_dirs) != len(seeds):
        raise ValueError("out_dirs: one folder per seed")
    results = []
    for g in range(0, len(seeds), k):
        part = seeds[g:g + k]
        results += _run_one_group(cfg, part, data=data, data_root=data_root,
                                  out_dirs=None if out_dirs is None else out_dirs[g:g + k],
                                  k=group_lanes(len(part), k), eval_train=eval_train, on_pass=on_pass)
    return results


def _run_one_group(cfg, seeds, *, data, data_root, out_dirs, k, eval_train, on_pass) -> list:
    import time
    from pathlib import Path

    import torch

    from . import metrics
    from .config import lr_at
    from .store import metrics_text, write_json, write_text
    from .train import RunResult, load_data, make_streams, save_checkpoint, sdlm_sample, training_split
    t0 = time.perf_counter()
    if data is None:
        data = load_data(cfg, data_root)
    xtr, ytr = training_split(cfg, data)
    xte = torch.as_tensor(data.test.x, dtype=torch.float32)
    yte = torch.as_tensor(data.test.y, dtype=torch.int64)
    Xtr, Xte = _images(xtr), _images(xte)
    cfgs = [cfg.with_overrides(seed=s) for s in seeds]
    streams = [make_streams(c) for c in cfgs]
    eng = LockstepEngine(cfg, [s.model() for s in streams], k=k)
    results = [RunResult(config=c, engine="lockstep") for c in cfgs]
    dirs = [None] * len(seeds) if out_dirs is None else [None if d is None else Path(d) for d in out_dirs]
    for c, d in zip(cfgs, dirs):
        if d is not None:
            d.mkdir(parents=True, exist_ok=True)
            write_json(d / "config.json", {**c.to_dict(), "engine": "lockstep", "config_hash": c.hash()})
    live = list(range(len(seeds)))            # the runs still training (not diverged)
    n = xtr.shape[0]
    for p in range(cfg.last_pass):
        shifts, masks = [None] * len(seeds), [None] * len(seeds)
        for r in live:
            shifts[r], masks[r] = streams[r].next_pass(p, n)
        for r in range(len(seeds)):
            if r not in live:               # a diverged lane: any numbers of the right shape
                shifts[r] = None if shifts[live[0]] is None else np.zeros((n, 2), np.int64)
                masks[r] = None if masks[live[0]] is None else np.ones((n, H2_UNITS), np.float32)
        if cfg.optimizer == "sdlm":
            eng.estimate_hessian(xtr, [sdlm_sample(c, p, n) for c in cfgs])
        eng.train_pass(xtr, ytr, lr_at(cfg, p), shifts, masks)
        outs = {}
        for split, X, y in (("train", Xtr, ytr), ("test", Xte, yte)):
            if split == "train" and not (eval_train or p + 1 == cfg.last_pass):
                continue
            outs[split] = (eng.predict_numpy(X), y)
        states = None
        for r in list(live):
            recs = {}
            for split, (o, y) in outs.items():
                rec = metrics.summarize(torch.from_numpy(o[r]), y, cfg.head, cfg.target)
                recs[split] = {"pass": p + 1, "split": split, **rec}
                results[r].records.append(recs[split])
            if dirs[r] is not None:
                write_text(dirs[r] / "metrics.jsonl", metrics_text(results[r].records))
            if on_pass is not None:
                on_pass(seeds[r], p + 1, recs.get("train"), recs["test"])
            if not all(math.isfinite(v["loss"]) for v in recs.values()):
                results[r].diverged_at = p + 1
                states = eng.state_dicts() if states is None else states
                results[r].state = states[r]
                live.remove(r)
        if not live:
            break
    final = eng.state_dicts()
    test_out = eng.predict_numpy(Xte)
    secs = time.perf_counter() - t0
    for r, res in enumerate(results):
        if res.diverged_at is None:
            res.state = final[r]
        res.seconds = secs / len(seeds)   # the group's time, shared out
        if dirs[r] is not None:
            # the outputs of the last pass trained (a diverged run: NaN from then on, as its weights)
            out_r = torch.from_numpy(test_out[r] if res.diverged_at is None else
                                     LockstepEngine(cfg, [_model_of(cfg, res.state)], k=k).predict_numpy(Xte)[0])
            share, err = metrics.rejection_curve(out_r, yte, cfg.head)
            write_json(dirs[r] / "rejection.json", {
                "split": "test", "pass": res.records[-1]["pass"],
                "criterion": "margin between the two most active outputs",
                "rejected": [round(float(v), 6) for v in share], "error_on_rest": [round(float(v), 6) for v in err]})
            save_checkpoint(dirs[r] / "checkpoint.pt", res.state, res.config)
    return results


def _model_of(cfg: Config, state: dict):
    from .model import Net1989
    from .train import net_config
    m = Net1989(net_config(cfg))
    m.load_state_dict(state)
    return m
