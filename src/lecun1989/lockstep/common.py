"""The lockstep engine's layout (parameter and scratch offsets), the CPU's lane count, the H2
table per H1 map, and the elementwise kernels: the activations on lane vectors and the input."""

from __future__ import annotations

import os
import warnings

import numpy as np
from numba import literal_unroll, njit
from numba.core.errors import NumbaExperimentalFeatureWarning

from .. import activations
from ..activations import FAST_KERNELS
from ..config import Config, ConfigError
from ..fast.tanh import TANH_CLAMP, TP, TQ
from ..geometry import (BACKGROUND, H1_MAPS, H1_SIDE, H2_FAN_MAPS, H2_MAPS, H2_SIDE, H2_UNITS, H3_UNITS,
                        IMAGE, KERNEL, OUTPUTS, PAD, PARAM_SHAPES, SCALED_TANH_A, SCALED_TANH_S, STRIDE,
                        h2_table)
from ..lanevec import ldiv, lfma, lload, lmax, lmin, lmul, lrelu, lsplat, lstore, lsub

# the tuple of the registry's kernels is unrolled in _scalar_act (see fast/layers.py, `_activate`)
warnings.filterwarnings("ignore", message=".*First-class function type feature is experimental",
                        category=NumbaExperimentalFeatureWarning)


# -- geometry ----------------------------------------------------------------------------------
TAPS = KERNEL * KERNEL                      # 25
P1 = H1_SIDE * H1_SIDE                      # 64 H1 positions per map
P2 = H2_SIDE * H2_SIDE                      # 16 H2 positions per map
XPAD = IMAGE + 2 * PAD                      # 20
H1PAD = H1_SIDE + 2 * PAD                   # 12
W2ROW = H2_FAN_MAPS * TAPS                  # 200 weights per H2 map
PB = 4                                      # digits per block of the prediction's H3 (forward._predict)
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
            ("dh1pad", H1_MAPS * H1PAD * H1PAD), ("w2sq", H2_MAPS * W2ROW),
            ("h2blk", PB * H2_UNITS), ("a3blk", PB * H3_UNITS))
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
S_H2BLK, S_A3BLK = SCR["h2blk"], SCR["a3blk"]

# Activations: the registry's codes (activations.index) and head rule (activation_codes). tanh,
# relu and the scaled tanh have a vector form here (`_lact`: one vector instruction per step for
# all K lanes; the tanh's Horner steps as explicit fused multiply-adds); any other entry (ELU ...)
# runs the registry's scalar kernel lane by lane (`_activate_lanes`). Against the registry's kernels
# (tests/test_lockstep.py): f bit for bit for all three, f' bit for bit for relu; the two tanh's
# 1 - t*t differs by one rounding of t*t (the fast engine's kernel is compiled with fast-math's
# `contract`, which fuses it; the vector form rounds t*t first, as this engine always has).
A_TANH, A_RELU, A_SCALED_TANH = (activations.index(n) for n in ("tanh", "relu", "scaled-tanh"))
HEAD_SQUASH, HEAD_LINEAR = 0, 1
OPT = {"sgd": 0, "adamw": 1, "sdlm": 2}
MODE_TRAIN, MODE_PREDICT, MODE_HESSIAN = 0, 1, 2

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


@njit(inline="always")
def param_views(v, K):
    """The eight parameter blocks (H1w, H1b, H2w, H2b, H3w, H3b, outw, outb) of a flat vector in
    the parameters' lane-interleaved layout (the weights, a gradient, a diagonal), as views."""
    return (v[O_W1 * K:O_B1 * K], v[O_B1 * K:O_W2 * K], v[O_W2 * K:O_B2 * K], v[O_B2 * K:O_W3 * K],
            v[O_W3 * K:O_B3 * K], v[O_B3 * K:O_W4 * K], v[O_W4 * K:O_B4 * K], v[O_B4 * K:N_PARAMS * K])


def check_supported(cfg: Config) -> None:
    """ConfigError for what this engine cannot train: its kernels are compiled for the paper's
    widths (geometry's constants: every lane's arrays have the same fixed shapes)."""
    widths = (cfg.h1_maps, cfg.h2_maps, cfg.h3_units)
    if widths != (H1_MAPS, H2_MAPS, H3_UNITS):
        raise ConfigError(f"the lockstep engine trains the paper's widths only ({H1_MAPS}/{H2_MAPS}/{H3_UNITS} "
                          f"H1/H2/H3), not {'/'.join(map(str, widths))}: use --engine fast for other widths")


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


# Any other entry: its scalar kernel per element and lane, outside the vector code (a call in
# `_lact` would cost the H1 tile its registers: 22% more time per pass, measured).
@njit(**LJIT)
def _scalar_act(x, act):
    """(f(x), f'(x)) of registry entry `act`, for one float32: the entry's fast-engine kernel."""
    h = F32(0.0)
    d = F32(0.0)
    i = 0
    for kernel in literal_unroll(FAST_KERNELS):
        if i == act:
            h, d = kernel(x)
        i += 1
    return h, d


@njit(**LJIT)
def _lact(v, act, wt):
    """model.Net1989.forward's `act(...)` and the derivative the backward pass needs, as torch's
    autograd computes it from the output; act is the entry's index in activations.REGISTRY.
    Written here as lane vectors: tanh (t, 1 - t^2); relu (v > 0 ? v : 0, v > 0); scaled tanh
    (A t, A S (1 - t^2)) with t = tanh(S v). Any other entry: (v, 1), the pre-activation kept for
    `_activate_lanes` (or `_h1_forward`'s last loop) to apply the entry's scalar kernel."""
    one = lsplat(1.0, wt)
    if act == A_TANH:
        t = _ltanh(v, wt)
        return t, lsub(one, lmul(t, t))
    if act == A_RELU:
        return lrelu(v)
    if act == A_SCALED_TANH:
        t = _ltanh(lmul(lsplat(SS, wt), v), wt)
        return lmul(lsplat(SA, wt), t), lmul(lsplat(SAS, wt), lsub(one, lmul(t, t)))
    return v, one


@njit(**LJIT)
def _activate_lanes(a, h, dh, n, act, deriv, wt):
    """`_activate` for an entry without a vector form: its scalar kernel, element by element and
    lane by lane. Compiled, as every kernel here, without fast-math (the kernel itself is the
    registry's, compiled with the fast engine's flags, the same function for every lane and K)."""
    K = len(wt)
    for t in range(n * K):
        hv, dv = _scalar_act(a[t], act)
        h[t] = hv
        if deriv:
            dh[t] = dv


@njit(**LJIT)
def _activate(a, h, dh, n, act, deriv, wt):
    """h = act(a) (and dh = act'(a) with deriv) for the first n elements of flat lane arrays."""
    if act != A_TANH and act != A_RELU and act != A_SCALED_TANH:
        _activate_lanes(a, h, dh, n, act, deriv, wt)
        return
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
