"""The paper's geometry of the 1989 net, in plain Python (no torch), so that the fast engine's
compile workers start without importing torch. model.py builds the net from these numbers and
re-exports them; see its docstring for the architecture and the source.
"""

from __future__ import annotations

# -- the paper's geometry ----------------------------------------------------------------------
IMAGE = 16                      # input side
PAD = 2                         # padding on every side, with the background value
BACKGROUND = -1.0               # input/feature background value used for padding
KERNEL = 5                      # kernel side, H1 and H2
STRIDE = 2
H1_MAPS, H1_SIDE = 12, (IMAGE + 2 * PAD - KERNEL) // STRIDE + 1        # 12 maps of 8x8
H2_MAPS, H2_SIDE = 12, (H1_SIDE + 2 * PAD - KERNEL) // STRIDE + 1      # 12 maps of 4x4
H2_FAN_MAPS = 8                 # each H2 map sees 8 of the 12 H1 maps
H2_UNITS = H2_MAPS * H2_SIDE * H2_SIDE                                 # 192 = 12 * 4 * 4
H3_UNITS = 30
OUTPUTS = 10

# H2 connectivity, one table: (first output map, end output map, H1 input map ranges).
# The anchor's guess: maps 0-3 see H1 maps 0-7, maps 4-7 see 4-11, maps 8-11 see 0-3 and 8-11.
H2_BLOCKS: tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...] = (
    (0, 4, ((0, 8),)),
    (4, 8, ((4, 12),)),
    (8, 12, ((0, 4), (8, 12))),
)

# The paper's counts (section 5 of the paper); checked against the code by `counts()`.
PAPER_COUNTS = {"parameters": 9760, "units": 1256, "connections": 64660, "macs": 63660}

# Parameter names, shapes and fan-ins, in the anchor's creation order (which fixes the
# random draws for a given torch seed).
PARAM_SHAPES: dict[str, tuple[int, ...]] = {
    "H1w": (H1_MAPS, 1, KERNEL, KERNEL),                        # (12, 1, 5, 5)
    "H1b": (H1_MAPS, H1_SIDE, H1_SIDE),                         # (12, 8, 8): a bias per unit
    "H2w": (H2_MAPS, H2_FAN_MAPS, KERNEL, KERNEL),              # (12, 8, 5, 5)
    "H2b": (H2_MAPS, H2_SIDE, H2_SIDE),                         # (12, 4, 4)
    "H3w": (H2_UNITS, H3_UNITS),                                # (192, 30)
    "H3b": (H3_UNITS,),                                         # (30,)
    "outw": (H3_UNITS, OUTPUTS),                                # (30, 10)
    "outb": (OUTPUTS,),                                         # (10,)
}
FAN_IN = {
    "H1w": 1 * KERNEL * KERNEL,                                 # 25
    "H2w": H2_FAN_MAPS * KERNEL * KERNEL,                       # 200
    "H3w": H2_UNITS,                                            # 192
    "outw": H3_UNITS,                                           # 30
}

SCALED_TANH_A = 1.7159          # LeCun's scaled tanh: A tanh(S a), with f(+-1) = +-1
SCALED_TANH_S = 2.0 / 3.0
