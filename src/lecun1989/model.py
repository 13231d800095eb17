"""The 1989 net: the one place the paper's architecture is written down.

Y. LeCun, B. Boser, J. S. Denker, D. Henderson, R. E. Howard, W. Hubbard, L. D. Jackel,
"Backpropagation Applied to Handwritten Zip Code Recognition", Neural Computation 1(4):541-551, 1989.

    input  16x16 grey image, values in [-1, 1]
    H1     12 maps 8x8: 5x5 kernels, stride 2, input padded by 2 with the background -1,
           weights shared within a map, one bias per *unit* (not per map)
    H2     12 maps 4x4: 5x5 kernels, stride 2, each map sees 8 of the 12 H1 maps
           (the paper does not give the scheme: H2_BLOCKS holds the anchor's guess), one bias per unit
    H3     30 units, fully connected to the 192 H2 units
    out    10 units, fully connected to H3

The forward pass is computed the way the anchor reproduction (a public PyTorch script, 2022;
docs/reference.md) computes it - three block convolutions concatenated, `x @ H3w` with H3w (192, 30) -
so that the float arithmetic, not only the math, matches its published numbers.

The geometry's numbers (sides, maps, H2_BLOCKS, PARAM_SHAPES, the paper's counts) are written in
geometry.py, which has no torch import (the fast engine's compile workers start without torch),
and re-exported here; this module builds the net from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import activations

# -- the paper's geometry (geometry.py, re-exported here) ----------------------------------------
from .geometry import (GEOMETRY, BACKGROUND, FAN_IN, H1_MAPS, H1_SIDE, H2_BLOCKS, H2_FAN_MAPS,  # noqa: F401
                       H2_MAPS, H2_SCHEMES, H2_SIDE, H2_UNITS, H3_UNITS, IMAGE, INITS, KERNEL,
                       OUTPUTS, PAD, PAPER_COUNTS, PARAM_SHAPES, SCALED_TANH_A, SCALED_TANH_S,
                       STRIDE, Geometry, h2_blocks_of, h2_table)
from .geometry import of as geometry_of


@dataclass(frozen=True)
class NetConfig:
    """Options of the net. Defaults are the 1989 net of the anchor reproduction."""

    activation: str = "tanh"    # hidden units: a name in activations.REGISTRY
    head: str = "tanh"          # tanh: squashed outputs for MSE on +-1 targets; linear: logits
    dropout: float = 0.0        # dropout probability on the H2 outputs, before H3
    h2_scheme: str = "anchor"   # the H2 connection table (geometry.H2_SCHEMES)
    h2_seed: int = 0            # the seed of the `random` table
    init: str = "sqrt"          # weights U(+-2.4/sqrt(F)) | fanin: U(+-2.4/F)
    h1_maps: int = H1_MAPS      # the widths (Config.h1_maps ...; geometry.Geometry)
    h2_maps: int = H2_MAPS
    h3_units: int = H3_UNITS

    @property
    def geometry(self) -> Geometry:
        return geometry_of(self)

    @property
    def h2_blocks(self):
        """The H2 table as blocks (geometry.h2_blocks_of): H2_BLOCKS for the anchor's scheme (its
        scaled blocks, Geometry.h2_blocks, for other widths)."""
        if self.h2_scheme == "anchor":
            return self.geometry.h2_blocks
        return h2_blocks_of(h2_table(self.h2_scheme, self.h2_seed, self.geometry))


def head_fn(cfg: NetConfig):
    """The output nonlinearity: none for the linear head; for the tanh head the squashing the
    activation registry gives for the hidden units (activations.head_of)."""
    if cfg.head == "linear":
        return None
    return activations.head_of(cfg.activation).torch


def h2_inputs(h1: torch.Tensor, blocks=H2_BLOCKS) -> list[torch.Tensor]:
    """The H1 maps each H2 block sees, as the anchor slices them (a plain slice where it can)."""
    out = []
    for _, _, ranges in blocks:
        parts = [h1[:, lo:hi] for lo, hi in ranges]
        out.append(parts[0] if len(parts) == 1 else torch.cat(parts, dim=1))
    return out


class Net1989(nn.Module):
    """The 1989 net. Parameters are named as the anchor names them (H1w, H1b, ..., outw, outb);
    that state_dict is the one weight format of the whole package."""

    def __init__(self, cfg: NetConfig | None = None, *, seed: int | None = None,
                 generator: torch.Generator | None = None) -> None:
        """seed: torch.manual_seed(seed) first, as the anchor's scripts do; generator: draw the
        initial weights from this generator instead of torch's global one (the same numbers for
        a generator seeded with the same seed; train.AnchorStreams goes on drawing from it)."""
        super().__init__()
        self.cfg = cfg or NetConfig()
        self.geometry = g = self.cfg.geometry
        if seed is not None and generator is None:
            torch.manual_seed(seed)
        fan_in = g.fan_in
        for name, shape in g.param_shapes.items():
            if name in fan_in:
                # init U(+-2.4/sqrt(F)), evaluated left to right as the anchor does (float32);
                # init "fanin": U(+-2.4/F), the paper's text read literally
                scale = fan_in[name] ** 0.5 if self.cfg.init == "sqrt" else fan_in[name]
                w = (torch.rand(shape, generator=generator) - 0.5) * 2 * 2.4 / scale
            elif name == "outb" and self.cfg.head == "tanh":
                w = -torch.ones(shape)          # anchor: output bias -1 for the tanh head
            else:
                w = torch.zeros(shape)          # biases start at 0 (no random draws)
            self.register_parameter(name, nn.Parameter(w))
        self.act = activations.get(self.cfg.activation).torch
        self.out_act = head_fn(self.cfg)
        self.h2_blocks = self.cfg.h2_blocks

    def forward(self, x: torch.Tensor, dropout_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, 1, 16, 16). (Shapes below are the paper's widths; geometry.Geometry has the
        others.) dropout_mask: optional (N, 192) multiplier (already scaled by
        1/(1-p)) used in training mode instead of drawing one from torch's generator, so that
        both engines can share one random stream."""
        act = self.act
        # x: (N, 1, 16, 16) -> pad with background -1 -> (N, 1, 20, 20)
        x = F.pad(x, (PAD, PAD, PAD, PAD), "constant", BACKGROUND)
        # H1: (N, 12, 8, 8)
        x = act(F.conv2d(x, self.H1w, stride=STRIDE) + self.H1b)
        # pad H1 maps with -1 -> (N, 12, 12, 12)
        x = F.pad(x, (PAD, PAD, PAD, PAD), "constant", BACKGROUND)
        # H2: the block convolutions of the H2 table (the anchor's: three, per H2_BLOCKS),
        # concatenated -> (N, 12, 4, 4)
        blocks = [F.conv2d(xi, self.H2w[lo:hi], stride=STRIDE)
                  for xi, (lo, hi, _) in zip(h2_inputs(x, self.h2_blocks), self.h2_blocks)]
        x = act(torch.cat(blocks, dim=1) + self.H2b)
        # flatten -> (N, 192)
        x = x.flatten(start_dim=1)
        if self.training and self.cfg.dropout > 0:
            if dropout_mask is not None:
                x = x * dropout_mask
            else:
                x = F.dropout(x, p=self.cfg.dropout, training=True)
        # H3: (N, 30)
        x = act(x @ self.H3w + self.H3b)
        # output: (N, 10)
        x = x @ self.outw + self.outb
        return self.out_act(x) if self.out_act is not None else x


def counts(geometry: Geometry = GEOMETRY) -> dict[str, int]:
    """Parameters, units, connections and multiply-accumulates, derived from the geometry
    (geometry.Geometry.counts; the paper's net by default: 9,760 / 1,256 / 64,660 / 63,660).

    Connections include biases and the connections to padding (as the paper counts them).
    """
    return geometry.counts()


def check_counts() -> dict[str, int]:
    c = counts()
    assert c == PAPER_COUNTS, f"net does not match the paper's counts: {c} != {PAPER_COUNTS}"
    return c
