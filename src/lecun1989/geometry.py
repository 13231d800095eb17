"""The paper's geometry of the 1989 net, in plain Python (no torch), so that the fast engine's
compile workers start without importing torch. model.py builds the net from these numbers and
re-exports them; see its docstring for the architecture and the source.

The module constants are the paper's net; `Geometry` (`of(cfg)`) is the same net with other
widths (Config.h1_maps, h2_maps, h3_units: docs/size.md), and derives every shape, fan-in and
count from them. `Geometry()` is the paper's net, and its counts are asserted to be the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def h2_table(scheme: str = "anchor", seed: int = 0, geometry: "Geometry | None" = None
             ) -> tuple[tuple[int, ...], ...]:
    """The H1 maps each H2 map sees (12 sorted 8-tuples) for a scheme of H2_SCHEMES; for another
    width (`Geometry`), h2_maps sorted tuples of 2/3 of the h1_maps (Geometry.h2_fan_maps)."""
    g = geometry or GEOMETRY
    n, fan, outs = g.h1_maps, g.h2_fan_maps, g.h2_maps
    if scheme == "anchor":
        rows = [tuple(m for a, b in ranges for m in range(a, b))
                for lo, hi, ranges in g.h2_blocks for _ in range(lo, hi)]
    elif scheme == "lenet5":
        # (scaled: windows of 2/3 of the maps, starts 2 apart; then two windows of 1/3 with a gap
        # of 1/12 of the maps (the code's 0-3, 5-8 for 12); needs h2_maps == h1_maps:
        # scheme_problem)
        third, gap = n // 3, n // 12
        gapped = tuple(range(third)) + tuple(range(third + gap, 2 * third + gap))
        rows = [tuple(sorted((s + k) % n for k in range(fan))) for s in range(0, n, 2)]
        rows += [tuple(sorted((s + k) % n for k in gapped)) for s in range(1, n, 2)]
    elif scheme == "random":
        import numpy as np
        rng = np.random.default_rng(seed)
        rows = [tuple(sorted(int(m) for m in rng.choice(n, size=fan, replace=False)))
                for _ in range(outs)]
    else:
        raise ValueError(f"unknown H2 scheme {scheme!r} (known: {', '.join(H2_SCHEMES)})")
    assert len(rows) == outs and all(len(set(r)) == fan for r in rows)
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


# -- other widths (Config.h1_maps, h2_maps, h3_units; docs/size.md) -------------------------------
# Each width is a multiple of the paper's unit of it, for two reasons: the H2 table keeps the
# paper's shape (every H2 map sees 2/3 of the H1 maps, the anchor's three blocks of thirds, so H1
# and H2 come in twelves), and the fast engine's register tiles take H1 maps 4 and 6 at a time, H2
# maps 4 at a time and H3 units 6 at a time. (H3 in sixes: 30 -> 36, 60, 120 ...)
WIDTH_STEP = {"h1_maps": 12, "h2_maps": 12, "h3_units": 6}
WIDTH_MAX = {"h1_maps": 96, "h2_maps": 96, "h3_units": 480}   # x8: beyond, the runs take hours


def width_problem(h1_maps: int, h2_maps: int, h3_units: int) -> str:
    """'' for widths the engines take, else a one-line reason."""
    for name, v in (("h1_maps", h1_maps), ("h2_maps", h2_maps), ("h3_units", h3_units)):
        step = WIDTH_STEP[name]
        if not isinstance(v, int) or v < step or v % step or v > WIDTH_MAX[name]:
            return (f"{name} must be a multiple of {step} from {step} to {WIDTH_MAX[name]} "
                    f"(the H2 table's thirds and the fast engine's register tiles), got {v!r}")
    return ""


@dataclass(frozen=True)
class Geometry:
    """The net's widths and everything derived from them: shapes, fan-ins, the H2 table, counts.
    The defaults are the paper's net (`GEOMETRY`)."""

    h1_maps: int = H1_MAPS          # H1 feature maps (8x8 each)
    h2_maps: int = H2_MAPS          # H2 feature maps (4x4 each)
    h3_units: int = H3_UNITS        # H3 units

    def __post_init__(self) -> None:
        problem = width_problem(self.h1_maps, self.h2_maps, self.h3_units)
        if problem:
            raise ValueError(problem)

    # -- shapes -----------------------------------------------------------------------------------
    @property
    def h2_fan_maps(self) -> int:
        """H1 maps each H2 map sees: 2/3 of them, as the paper's 8 of 12."""
        return self.h1_maps * H2_FAN_MAPS // H1_MAPS

    @property
    def h1_units(self) -> int:
        return self.h1_maps * H1_SIDE * H1_SIDE

    @property
    def h2_units(self) -> int:
        return self.h2_maps * H2_SIDE * H2_SIDE

    @property
    def factor(self) -> tuple[float, float, float]:
        """The widths as multiples of the paper's (H1, H2, H3)."""
        return (self.h1_maps / H1_MAPS, self.h2_maps / H2_MAPS, self.h3_units / H3_UNITS)

    @property
    def label(self) -> str:
        """'12/12/30' (H1 maps / H2 maps / H3 units)."""
        return f"{self.h1_maps}/{self.h2_maps}/{self.h3_units}"

    @property
    def h2_blocks(self) -> tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...]:
        """The anchor's H2 blocks scaled: the H2 maps in three equal groups; the first sees H1's
        first two thirds, the second its last two, the third its first and last thirds (for
        12/12: H2_BLOCKS; for 24/24: maps 0-7 see 0-15, 8-15 see 8-23, 16-23 see 0-7 and 16-23)."""
        if (self.h1_maps, self.h2_maps) == (H1_MAPS, H2_MAPS):
            return H2_BLOCKS
        t1, t2 = self.h1_maps // 3, self.h2_maps // 3
        return ((0, t2, ((0, 2 * t1),)),
                (t2, 2 * t2, ((t1, 3 * t1),)),
                (2 * t2, 3 * t2, ((0, t1), (2 * t1, 3 * t1))))

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """PARAM_SHAPES for these widths (the anchor's creation order)."""
        return {
            "H1w": (self.h1_maps, 1, KERNEL, KERNEL),
            "H1b": (self.h1_maps, H1_SIDE, H1_SIDE),
            "H2w": (self.h2_maps, self.h2_fan_maps, KERNEL, KERNEL),
            "H2b": (self.h2_maps, H2_SIDE, H2_SIDE),
            "H3w": (self.h2_units, self.h3_units),
            "H3b": (self.h3_units,),
            "outw": (self.h3_units, OUTPUTS),
            "outb": (OUTPUTS,),
        }

    @property
    def fan_in(self) -> dict[str, int]:
        return {"H1w": KERNEL * KERNEL, "H2w": self.h2_fan_maps * KERNEL * KERNEL,
                "H3w": self.h2_units, "outw": self.h3_units}

    def counts(self) -> dict[str, int]:
        """Parameters, units, connections (biases and the connections to padding included, as the
        paper counts them) and multiply-accumulates (connections less biases): what one digit
        costs at inference."""
        h1_in = KERNEL * KERNEL                                  # 25 inputs per H1 unit
        h2_in = self.h2_fan_maps * KERNEL * KERNEL               # 200 inputs per H2 unit
        conn = (self.h1_units * (h1_in + 1) + self.h2_units * (h2_in + 1)
                + self.h3_units * (self.h2_units + 1) + OUTPUTS * (self.h3_units + 1))
        biases = self.h1_units + self.h2_units + self.h3_units + OUTPUTS
        params = 0
        for shape in self.param_shapes.values():
            n = 1
            for s in shape:
                n *= s
            params += n
        return {"parameters": params,
                "units": IMAGE * IMAGE + self.h1_units + self.h2_units + self.h3_units + OUTPUTS,
                "connections": conn, "macs": conn - biases}


GEOMETRY = Geometry()
assert GEOMETRY.counts() == PAPER_COUNTS, (GEOMETRY.counts(), PAPER_COUNTS)
assert GEOMETRY.param_shapes == PARAM_SHAPES and GEOMETRY.fan_in == FAN_IN


def of(cfg) -> Geometry:
    """The geometry of a Config or NetConfig (anything with h1_maps, h2_maps, h3_units)."""
    g = Geometry(cfg.h1_maps, cfg.h2_maps, cfg.h3_units)
    return GEOMETRY if g == GEOMETRY else g


def scheme_problem(scheme: str, h1_maps: int, h2_maps: int) -> str:
    """'' if the H2 scheme applies to these widths, else a one-line reason."""
    if scheme == "lenet5" and h1_maps != h2_maps:
        return "h2_scheme lenet5 needs as many H2 maps as H1 maps (its table has one row per H1 map)"
    return ""
