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

# -- the H2 connection scheme (the paper: "a scheme that will not be discussed here") ---------------
# A scheme is a table: for each of the 12 H2 maps, the sorted 8 H1 maps it sees. Every scheme
# keeps 8 inputs per map, so the net keeps the paper's 9,760 parameters (H2w (12, 8, 5, 5)).
#   anchor: the blocks above (the default);
#   lenet5: LeNet-5's C3 table (LeCun et al. 1998) adapted to 12 maps of 8 inputs: as C3's first
#           rows, maps 0-5 see cyclically contiguous windows of 8 H1 maps starting at 0, 2, ..., 10;
#           as its discontinuous rows, maps 6-11 see two windows of 4 with a gap of 2, {s..s+3,
#           s+6..s+9} mod 12 for s = 1, 3, ..., 11. Every H1 map feeds 8 H2 maps, as in the anchor's.
#   random: each map sees 8 of the 12 H1 maps drawn without replacement, numpy
#           default_rng(h2_seed) map after map.
H2_SCHEMES = ("anchor", "lenet5", "random")


def h2_table(scheme: str = "anchor", seed: int = 0) -> tuple[tuple[int, ...], ...]:
    """The H1 maps each H2 map sees (12 sorted 8-tuples) for a scheme of H2_SCHEMES."""
    n = H1_MAPS
    if scheme == "anchor":
        rows = [tuple(m for a, b in ranges for m in range(a, b))
                for lo, hi, ranges in H2_BLOCKS for _ in range(lo, hi)]
    elif scheme == "lenet5":
        rows = [tuple(sorted((s + k) % n for k in range(H2_FAN_MAPS))) for s in range(0, n, 2)]
        rows += [tuple(sorted((s + k) % n for k in (0, 1, 2, 3, 5, 6, 7, 8))) for s in range(1, n, 2)]
    elif scheme == "random":
        import numpy as np
        rng = np.random.default_rng(seed)
        rows = [tuple(sorted(int(m) for m in rng.choice(n, size=H2_FAN_MAPS, replace=False)))
                for _ in range(H2_MAPS)]
    else:
        raise ValueError(f"unknown H2 scheme {scheme!r} (known: {', '.join(H2_SCHEMES)})")
    assert len(rows) == H2_MAPS and all(len(set(r)) == H2_FAN_MAPS for r in rows)
    return tuple(tuple(r) for r in rows)


def h2_blocks_of(table) -> tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...]:
    """A table as H2_BLOCKS-style blocks: consecutive H2 maps that see the same H1 maps form one
    block (lo, hi, the H1 maps as contiguous ranges). The anchor's table gives H2_BLOCKS itself."""
    blocks: list = []
    for o, row in enumerate(table):
        ranges: list = []
        for m in row:
            if ranges and ranges[-1][1] == m:
                ranges[-1][1] = m + 1
            else:
                ranges.append([m, m + 1])
        rng = tuple((a, b) for a, b in ranges)
        if blocks and blocks[-1][2] == rng:
            blocks[-1][1] = o + 1
        else:
            blocks.append([o, o + 1, rng])
    return tuple((lo, hi, rng) for lo, hi, rng in blocks)


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

INITS = ("sqrt", "fanin")        # U(+-2.4/sqrt(F)) (the anchor's reading) | U(+-2.4/F) (the paper's text)

SCALED_TANH_A = 1.7159          # LeCun's scaled tanh: A tanh(S a), with f(+-1) = +-1
SCALED_TANH_S = 2.0 / 3.0
