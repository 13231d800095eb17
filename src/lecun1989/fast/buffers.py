"""Every array of one engine, named once: the NamedTuples the compiled kernels take (numba reads
a NamedTuple of arrays field by field, so a kernel says `b.X2T`, never a position in a list), the
memory block they are carved from (`Arena`), and the one function that allocates each group.

Naming: a* pre-activations, h* unit outputs, dact* the activation's derivative at a*, d* the loss
gradient with respect to what follows the d; *_sq the squares sdlm's Gauss-Newton pass runs on.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..geometry import GEOMETRY, OUTPUTS, PARAM_SHAPES, Geometry
from ..simd import LANES
from .common import ALIGN, BG, H1PAD, H1PAD_W, P1, P2, TAPS, XPAD, XPAD_W, x2_width

BATCH = LANES                               # prediction: examples per vector (predict.py)
SLOTS = LANES                               # lane slots of one dot product (predict.py)
SLOT_TILE = 8                               # outputs per tile whose slots are kept (4 maps x 2 positions)

def internal_shapes(g: Geometry = GEOMETRY) -> dict[str, tuple[int, ...]]:
    """Internal layout of each parameter: the model's shape reshaped (H3w transposed)."""
    return {
        "H1w": (g.h1_maps, TAPS), "H1b": (g.h1_maps, P1),
        "H2w": (g.h2_maps, g.h2_fan_maps * TAPS), "H2b": (g.h2_maps, P2),
        "H3w": (g.h3_units, g.h2_units), "H3b": (g.h3_units,),
        "outw": (g.h3_units, OUTPUTS), "outb": (OUTPUTS,),
    }


INTERNAL_SHAPES = internal_shapes()
TRANSPOSED = {"H3w"}


class Params(NamedTuple):
    """One array per parameter, in PARAM_SHAPES order, as views into a flat vector: the weights
    (`p`), their gradients (`g`) or one example's sdlm diagonal (`gn`)."""
    H1w: np.ndarray                          # (12, 25)
    H1b: np.ndarray                          # (12, 64)
    H2w: np.ndarray                          # (12, 200): each map's 8 input maps x 25 taps
    H2b: np.ndarray                          # (12, 16)
    H3wT: np.ndarray                         # (30, 192): H3w transposed
    H3b: np.ndarray                          # (30,)
    outw: np.ndarray                         # (30, 10)
    outb: np.ndarray                         # (10,)


assert len(Params._fields) == len(PARAM_SHAPES)


class FlatVectors(NamedTuple):
    """Vectors of the flat parameter layout (`param_offsets`): one loop runs an optimizer step."""
    theta: np.ndarray                        # the parameters
    grad: np.ndarray                         # their gradient (one example's)
    adam_m: np.ndarray                       # AdamW's first moment (exp_avg)
    adam_v: np.ndarray                       # AdamW's second moment (exp_avg_sq)
    hdiag: np.ndarray                        # sdlm: the Hessian diagonal h
    sdlm_rate: np.ndarray                    # sdlm: lr / (mu + h), once per pass
    hdiag_example: np.ndarray                # sdlm: one example's diagonal (views: `gn`)
    hdiag_sum: np.ndarray                    # sdlm: the estimate's float64 sum over the examples


class Settings(NamedTuple):
    """What a Config fixes for the kernels (codes: common.py, activations.REGISTRY)."""
    act: int                                 # the hidden units' activation (index in the registry)
    out_act: int                             # the tanh head's squashing (index), -1: linear head
    head: int                                # HEAD_SQUASH (MSE) | HEAD_LINEAR (cross-entropy)
    opt: int                                 # OPT_SGD | OPT_ADAMW | OPT_SDLM
    target: float                            # the tanh head's target value (Config.target)
    mse_factor: float                        # d loss / d out = mse_factor (out - y) (Config.mse_norm)
    mse_d2: float                            # d2 loss / d out2 (sdlm's start: the same factor)
    sdlm_mu: float
    sdlm_running: float                      # > 0: the running-average diagonal
    h3_lo: int                               # H3w's span in theta (SGD steps it in the H3 backward)
    h3_hi: int


class H2Tables(NamedTuple):
    """The H2 connection table as the kernels read it (engine.h2_blocks, engine.h2_slot_tables)."""
    blocks: np.ndarray                       # (nb, 2): each block's first and end H2 map
    block_runs: np.ndarray                   # (nb, R, 3): a block's contiguous runs of input columns
    per_map: bool                            # the table is not in blocks of 4 maps: use map_runs
    map_runs: np.ndarray                     # (12, R', 3): each map's runs (per_map only)
    slot_weight_col: np.ndarray              # (nb, 8, T): lane slot l's columns in a map's 200 weights
    slot_input_offset: np.ndarray            # (nb, 8, T): their inputs' offsets in the batched padded H1
    slot_count: np.ndarray                   # (nb, 8): columns per slot


class ExampleBuffers(NamedTuple):
    """The per-example kernel's arrays (one example's forward, backward and sdlm squares)."""
    xpad: np.ndarray                         # (2, 20, 16) rolled, padded input split by column parity
    X1: np.ndarray                           # (25, 64) H1 im2col: a row per tap, a column per position
    a1: np.ndarray                           # (12, 64)
    h1: np.ndarray                           # (12, 64)
    dact1: np.ndarray                        # (12, 64)
    h1pad: np.ndarray                        # (12, 12, 16) padded H1 maps, rows padded to 16
    X2T: np.ndarray                          # (16, 304) H2 im2col transposed: a row per position
    a2: np.ndarray                           # (12, 16)
    h2: np.ndarray                           # (192,)
    dact2: np.ndarray                        # (192,)
    h2_masked: np.ndarray                    # (192,) h2 times the dropout mask
    a3: np.ndarray                           # (30,)
    h3: np.ndarray                           # (30,)
    dact3: np.ndarray                        # (30,)
    z: np.ndarray                            # (10,) output pre-activation
    out: np.ndarray                          # (10,) the head's output
    dact_out: np.ndarray                     # (10,) the head's derivative
    dz: np.ndarray                           # (10,) backward: d loss / d z
    dh3: np.ndarray                          # (30,)
    dh2: np.ndarray                          # (192,)
    da2: np.ndarray                          # (12, 16)
    dX2T: np.ndarray                         # (16, 304)
    da1: np.ndarray                          # (12, 64)
    H2w_sq: np.ndarray                       # (12, 200) sdlm: squared H2 weights
    X1_sq: np.ndarray                        # (25, 64) and squared im2col inputs
    X2T_sq: np.ndarray                       # (16, 304)


class PredictBuffers(NamedTuple):
    """`_predict_kernel`'s arrays: a vector of 8 examples per pixel or unit ([unit * 8 + example])."""
    H2w_slots: np.ndarray                    # (nb, 8, 4T) the H2 weights in lane-slot order
    x: np.ndarray                            # (20*20*8) padded input
    a1: np.ndarray                           # (12*64*8)
    h1: np.ndarray                           # (12*64*8)
    dact_scratch: np.ndarray                 # (12*64*8) (derivatives are not needed)
    h1pad: np.ndarray                        # (12*12*12*8) padded H1 maps
    slots: np.ndarray                        # (8 slots * 8 outputs * 8) a tile's lane slots
    bias_tile: np.ndarray                    # (8,) a tile's biases
    tile_sums: np.ndarray                    # (8 * 8) a tile's outputs
    a2: np.ndarray                           # (192*8)
    h2: np.ndarray                           # (192*8)
    a3: np.ndarray                           # (30*8)
    h3: np.ndarray                           # (30*8)
    z: np.ndarray                            # (10*8)
    out: np.ndarray                          # (10*8)


class Arena:
    """Every array of one engine, carved in order out of one block of memory: each starts on a
    cache line, with at least LANES elements of memory after its end (a run's last chunk of 8 is
    read whole, see X2_W). One block gives the same relative layout in every process; separate
    numpy allocations land at addresses that differ run to run, and with them how the buffers
    collide in the L1 cache - measured here as a 10-20% spread of the speed between processes."""

    SIZE = 2 << 20                          # bytes; a float32 engine takes about 0.5 MB

    def __init__(self, g: Geometry = GEOMETRY) -> None:
        # (a wider net takes SIZE per 9,760 parameters, the paper's count: ample for every array)
        size = self.SIZE * -(-g.counts()["parameters"] // GEOMETRY.counts()["parameters"])
        self.raw = np.zeros(size + 4096, np.uint8)
        self.off = -self.raw.ctypes.data % 4096

    def take(self, shape, dt, fill=0.0) -> np.ndarray:
        """A new array of np.full(shape, fill, dt)."""
        dt = np.dtype(dt)
        n = int(np.prod(shape))
        end = self.off + (n + LANES) * dt.itemsize
        if end > self.raw.size:
            raise MemoryError("fast engine: arena too small")
        out = self.raw[self.off:self.off + n * dt.itemsize].view(dt).reshape(shape)
        out[...] = fill
        addr = self.raw.ctypes.data
        self.off = -(-(addr + end) // ALIGN) * ALIGN - addr     # the next cache line
        return out


def param_offsets(dt, g: Geometry = GEOMETRY) -> tuple[list[int], int]:
    """Each parameter's offset in the flat vectors (PARAM_SHAPES order) and the vectors' length:
    each parameter starts on a cache line (the gaps stay 0: every optimizer maps a zero weight
    with a zero gradient to zero)."""
    per_line = ALIGN // np.dtype(dt).itemsize
    offsets = [0]
    for shape in g.param_shapes.values():
        offsets.append(offsets[-1] + -(-int(np.prod(shape)) // per_line) * per_line)
    return offsets[:-1], offsets[-1]


def flat_vectors(arena: Arena, dt, g: Geometry = GEOMETRY) -> FlatVectors:
    total = param_offsets(dt, g)[1]
    return FlatVectors(*(arena.take(total, np.float64 if f == "hdiag_sum" else dt)
                         for f in FlatVectors._fields))


def param_views(vector: np.ndarray, g: Geometry = GEOMETRY) -> Params:
    """The parameters' arrays inside one flat vector."""
    offsets, _ = param_offsets(vector.dtype, g)
    internal = internal_shapes(g)
    return Params(*(vector[off:off + int(np.prod(shape))].reshape(internal[name])
                    for (name, shape), off in zip(g.param_shapes.items(), offsets)))


def example_buffers(arena: Arena, dt, g: Geometry = GEOMETRY) -> ExampleBuffers:
    """The per-example buffers (the padded maps' borders preset to -1, the background)."""
    H1_MAPS, H2_MAPS, H2_UNITS, H3_UNITS = g.h1_maps, g.h2_maps, g.h2_units, g.h3_units
    X2_W, H2_FAN_MAPS = x2_width(g.h1_maps), g.h2_fan_maps
    shapes = dict(xpad=(2, XPAD, XPAD_W), X1=(TAPS, P1), a1=(H1_MAPS, P1), h1=(H1_MAPS, P1),
                  dact1=(H1_MAPS, P1), h1pad=(H1_MAPS, H1PAD, H1PAD_W), X2T=(P2, X2_W), a2=(H2_MAPS, P2),
                  h2=H2_UNITS, dact2=H2_UNITS, h2_masked=H2_UNITS, a3=H3_UNITS, h3=H3_UNITS, dact3=H3_UNITS,
                  z=OUTPUTS, out=OUTPUTS, dact_out=OUTPUTS, dz=OUTPUTS, dh3=H3_UNITS, dh2=H2_UNITS,
                  da2=(H2_MAPS, P2), dX2T=(P2, X2_W), da1=(H1_MAPS, P1),
                  # (squared H2 weights with LANES floats of memory after them, as in theta: the H2
                  # kernels read a run's last chunk of 8 whole)
                  H2w_sq=(H2_MAPS, H2_FAN_MAPS * TAPS), X1_sq=(TAPS, P1), X2T_sq=(P2, X2_W))
    assert tuple(shapes) == ExampleBuffers._fields
    # the two padded maps first, then the others in field order: the arena's layout is part of
    # the measured speed (see Arena)
    arrays = {f: arena.take(shapes[f], dt, BG) for f in ("xpad", "h1pad")}
    for f, s in shapes.items():
        if f not in arrays:
            arrays[f] = arena.take(s, dt)
    return ExampleBuffers(**arrays)


def predict_buffers(arena: Arena, dt, tables: H2Tables, g: Geometry = GEOMETRY) -> PredictBuffers:
    """Allocated after the per-example buffers, so that their layout does not depend on these."""
    H1_MAPS, H2_UNITS, H3_UNITS = g.h1_maps, g.h2_units, g.h3_units
    nh1 = H1_MAPS * P1 * BATCH
    nb, _, width = tables.slot_weight_col.shape
    shapes = dict(H2w_slots=(nb, SLOTS, 4 * width), x=XPAD * XPAD * BATCH, a1=nh1, h1=nh1, dact_scratch=nh1,
                  h1pad=H1_MAPS * H1PAD * H1PAD * BATCH, slots=SLOTS * SLOT_TILE * BATCH,
                  bias_tile=SLOT_TILE, tile_sums=SLOT_TILE * BATCH, a2=H2_UNITS * BATCH,
                  h2=H2_UNITS * BATCH, a3=H3_UNITS * BATCH, h3=H3_UNITS * BATCH, z=OUTPUTS * BATCH,
                  out=OUTPUTS * BATCH)
    assert tuple(shapes) == PredictBuffers._fields
    padded = {"x", "h1pad"}
    return PredictBuffers(*(arena.take(s, dt, BG if f in padded else 0.0) for f, s in shapes.items()))
