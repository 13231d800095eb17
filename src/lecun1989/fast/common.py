"""What every module of the fast engine shares: the geometry of model.py in the engine's padded
layouts, the codes passed to the compiled kernels, and the compile flags."""

from __future__ import annotations

import numpy as np

from ..geometry import (BACKGROUND, H1_MAPS, H1_SIDE, H2_SIDE, H2_UNITS, H3_UNITS, IMAGE, KERNEL,
                        OUTPUTS, PAD, STRIDE)
from ..simd import LANES

# -- geometry, derived from model.py -----------------------------------------------------------
TAPS = KERNEL * KERNEL                      # 25 kernel taps
P1 = H1_SIDE * H1_SIDE                      # 64 positions per H1 map
P2 = H2_SIDE * H2_SIDE                      # 16 positions per H2 map
XPAD = IMAGE + 2 * PAD                      # 20: padded input side
H1PAD = H1_SIDE + 2 * PAD                   # 12: padded H1 side
X2_ROW = H1_MAPS * TAPS                     # 300: one X2T row = every H1 map's 25 taps
# Row widths padded for 8-lane vectors (simd.py): an im2col copy moves 8 floats for a kernel row of
# 5 (the next copy overwrites the extra 3), and a run's last partial chunk of 8 is read whole.
X2_W = X2_ROW + LANES // 2                  # 304 >= 11*25 + 4*5 + 8


def x2_width(h1_maps: int) -> int:
    """X2_W for another number of H1 maps (geometry.Geometry): every map's taps + LANES // 2."""
    w = h1_maps * TAPS + LANES // 2
    assert w >= (h1_maps - 1) * TAPS + (KERNEL - 1) * KERNEL + LANES
    return w


assert x2_width(H1_MAPS) == X2_W
H1PAD_W = 16                                # >= STRIDE*(H2_SIDE-1) + LANES = 14
XPAD_W = 16                                 # the padded image split by column parity: 10 + 6
assert IMAGE & (IMAGE - 1) == 0 and STRIDE == 2 and XPAD_W >= (KERNEL - 1) // 2 + LANES
assert H1_SIDE == LANES and P1 % (2 * LANES) == 0 and H1_MAPS % 4 == 0 and P2 % 2 == 0
assert H2_UNITS % LANES == 0 and H3_UNITS % 6 == 0
assert X2_W >= (H1_MAPS - 1) * TAPS + (KERNEL - 1) * KERNEL + LANES
assert H1PAD_W >= STRIDE * (H2_SIDE - 1) + LANES and H1PAD_W >= H1PAD

# head / optimizer / mode codes passed to the compiled kernels (activations: their index in
# activations.REGISTRY)
HEAD_SQUASH, HEAD_LINEAR = 0, 1
OPT = {"sgd": 0, "adamw": 1, "sdlm": 2}
OPT_SGD, OPT_ADAMW, OPT_SDLM = OPT["sgd"], OPT["adamw"], OPT["sdlm"]
MODE_TRAIN, MODE_PREDICT, MODE_HESSIAN = 0, 1, 2
ALIGN = 64                                  # bytes: a cache line (arrays and parameters start on one)

# fastmath without nnan/ninf: a diverging run must still produce NaN/inf, as the reference does.
# reassoc lets LLVM vectorize reductions; contract lets it fuse multiply-adds. Both are decided at
# compile time, so a given machine code gives the same result for the same inputs every time.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
# error_model="numpy": float division without Python's zero check (which blocks vectorization).
JIT = dict(cache=True, fastmath=FASTMATH, error_model="numpy", boundscheck=False, nogil=True)
# Sums whose order must be kept exactly are compiled without fastmath; fastmath=False must be
# given explicitly, else numba compiles a function called from a fastmath one with its flags.
NOFASTMATH = dict(JIT, fastmath=False)

F32 = np.float32
BG = F32(BACKGROUND)
