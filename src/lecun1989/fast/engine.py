"""`FastEngine`: train.TorchEngine's interface over the compiled kernels, and the H2 tables in
the form the kernels read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from .. import activations
from ..geometry import GEOMETRY, H2_BLOCKS, IMAGE, OUTPUTS, Geometry
from .buffers import (TRANSPOSED, Arena, H2Tables, Params, Settings, example_buffers, flat_vectors,
                      param_offsets, param_views, predict_buffers)
from .compilation import ensure_compiled
from .common import HEAD_LINEAR, HEAD_SQUASH, MODE_HESSIAN, MODE_PREDICT, MODE_TRAIN, OPT, TAPS
from .kernel import _kernel
from .predict import _predict_kernel, h2_slot_tables

# (torch is imported where tensors are made, so that the compile workers start without it)
if TYPE_CHECKING:
    import torch

    from ..config import Config
    from ..model import Net1989


def h2_blocks(table=H2_BLOCKS, fan_maps: int = GEOMETRY.h2_fan_maps) -> tuple[np.ndarray, np.ndarray]:
    """From model.H2_BLOCKS (or another table's blocks, geometry.h2_blocks_of): blocks (nb, 2) =
    (first H2 map, end map) and block_runs (nb, R, 3) = the block's contiguous runs of input H1
    maps as (first column in a map's 200 weights, first column in an X2T row, length), padded
    with empty runs to a common count R. A table of one-map blocks gives the per-map runs
    (`H2Tables.map_runs`). A block of 4k maps (a wider net's scaled anchor table,
    geometry.Geometry.h2_blocks) becomes k blocks of 4: the block kernels take 4 maps at a time."""
    blocks, runs = [], []
    for lo, hi, ranges in table:
        col, rs = 0, []
        for a, b in ranges:
            rs.append((col * TAPS, a * TAPS, (b - a) * TAPS))
            col += b - a
        assert col == fan_maps, "each H2 map must see fan_maps H1 maps"
        assert hi - lo == 1 or (hi - lo) % 4 == 0, "the H2 block kernels take a block's maps four at a time"
        step = 1 if hi - lo == 1 else 4
        for first in range(lo, hi, step):
            blocks.append((first, first + step))
            runs.append(rs)
    width = max(len(r) for r in runs)
    block_runs = np.zeros((len(blocks), width, 3), dtype=np.int64)
    for b, rs in enumerate(runs):
        block_runs[b, :len(rs)] = rs
    return np.array(blocks, dtype=np.int64), block_runs


def h2_tables(cfg: Config) -> H2Tables:
    """The config's H2 table: in blocks of 4 maps (the anchor's) for the block kernels, else per
    map (then the block fields are the anchor's, unused placeholders of the same types)."""
    from ..geometry import h2_blocks_of, h2_table
    g = cfg.geometry
    fan = g.h2_fan_maps
    table = g.h2_blocks if cfg.h2_scheme == "anchor" else h2_blocks_of(h2_table(cfg.h2_scheme, cfg.h2_seed, g))
    per_map = any((hi - lo) % 4 for lo, hi, _ in table)
    if per_map:
        maps = tuple((o, o + 1, ranges) for lo, hi, ranges in table for o in range(lo, hi))
        map_runs = h2_blocks(maps, fan)[1]
        blocks, block_runs = h2_blocks(g.h2_blocks, fan)
    else:
        blocks, block_runs = h2_blocks(table, fan)
        map_runs = np.zeros((g.h2_maps, 1, 3), np.int64)
    return H2Tables(blocks, block_runs, per_map, map_runs, *h2_slot_tables(blocks, block_runs, fan))


class FastEngine:
    """Same interface as train.TorchEngine; weights in numpy, passes in compiled code.

    dtype: float32 (default, the reference's precision) or float64 (for accuracy studies).
    """

    name = "fast"

    def __init__(self, cfg: Config, model: Net1989 | None, *, dtype=np.float32) -> None:
        ensure_compiled()
        from .. import config
        self.cfg = cfg
        self.dtype = dt = np.dtype(dtype)
        self.step = 0
        self.geometry = geo = cfg.geometry              # the widths: the arrays' shapes
        self.arena = arena = Arena(geo)
        self.flat = flat_vectors(arena, dt, geo)
        self.p = param_views(self.flat.theta, geo)           # the weights
        self.g = param_views(self.flat.grad, geo)            # their gradients
        self.gn = param_views(self.flat.hdiag_example, geo)  # sdlm: one example's diagonal
        offsets, _ = param_offsets(dt, geo)
        h3 = list(geo.param_shapes).index("H3w")
        h3_lo = offsets[h3]                             # (`_kernel` takes H3w's SGD step in place)
        linear = cfg.head == "linear"
        self.settings = Settings(
            act=activations.index(cfg.activation),
            out_act=-1 if linear else activations.index(activations.head_of(cfg.activation).name),
            head=HEAD_LINEAR if linear else HEAD_SQUASH, opt=OPT[cfg.optimizer],
            target=float(cfg.target), mse_factor=config.MSE_FACTOR[cfg.mse_norm],
            mse_d2=config.MSE_FACTOR[cfg.mse_norm], sdlm_mu=float(cfg.sdlm_mu),
            sdlm_running=float(cfg.sdlm_running), h3_lo=h3_lo, h3_hi=h3_lo + self.p.H3wT.size)
        if model is not None:                # (None: zero weights, for compiling)
            self.load_state_dict(model.state_dict())
        self.tables = h2_tables(cfg)
        self.buf = example_buffers(arena, dt, geo)
        self.predict_buf = predict_buffers(arena, dt, self.tables, geo)
        # placeholders of the right types for the arguments a mode does not use
        self.no_labels = np.zeros(1, np.int64)
        self.no_shifts = np.zeros((1, 2), np.int64)
        self.no_masks = np.ones((1, geo.h2_units), dt)
        self.no_result = np.zeros((1, OUTPUTS), dt)

    @property
    def per_map(self) -> bool:
        """The H2 table is not in blocks of 4 maps (plain per-map loops, per-example prediction)."""
        return self.tables.per_map

    # -- weights ----------------------------------------------------------------------------------
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for (name, shape), view in zip(self.geometry.param_shapes.items(), self.p):
            w = state[name].detach().cpu().numpy().reshape(shape)
            if name in TRANSPOSED:
                w = w.T
            view[...] = w.reshape(view.shape)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return _to_model(self.p, self.geometry)

    def _call(self, mode: int, X: np.ndarray, labels=None, shifts=None, use_shift=False, masks=None,
              use_mask=False, lr=0.0, result=None) -> int:
        """`_kernel` with every array it may touch (unused ones: the placeholders, so that one
        compiled signature serves every mode)."""
        return _kernel(mode, X, self.no_labels if labels is None else labels,
                       self.no_shifts if shifts is None else shifts, use_shift,
                       self.no_masks if masks is None else masks, use_mask, lr, self.step,
                       self.no_result if result is None else result,
                       self.settings, self.flat, self.p, self.g, self.gn, self.tables, self.buf)

    # -- sdlm ------------------------------------------------------------------------------------
    def estimate_hessian(self, x: torch.Tensor) -> None:
        """sdlm: the Gauss-Newton diagonal averaged over the digits x (train.TorchEngine's)."""
        self._call(MODE_HESSIAN, _images(x, self.dtype))

    def hessian(self) -> dict[str, torch.Tensor]:
        """The current sdlm diagonal as {name: tensor in the model's shape} (TorchEngine.h)."""
        return _to_model(param_views(self.flat.hdiag, self.geometry), self.geometry)

    # -- training and prediction ------------------------------------------------------------------
    def train_pass(self, x: torch.Tensor, labels: torch.Tensor, lr: float,
                   shifts: np.ndarray | None = None, masks: np.ndarray | None = None,
                   progress: Callable[[int], None] | None = None) -> None:
        X = _images(x, self.dtype)
        n = X.shape[0]
        lab = np.ascontiguousarray(_numpy(labels), dtype=np.int64)
        use_shift = shifts is not None
        sh = np.ascontiguousarray(shifts, dtype=np.int64) if use_shift else np.zeros((1, 2), np.int64)
        use_mask = masks is not None
        mk = (np.ascontiguousarray(masks, dtype=self.dtype) if use_mask
              else np.ones((1, self.geometry.h2_units), self.dtype))
        if use_shift:
            assert sh.shape == (n, 2) and np.all(np.abs(sh) <= 1), "shifts must be (N, 2) in {-1, 0, 1}"
        if use_mask:
            assert mk.shape == (n, self.geometry.h2_units), "masks must be (N, H2 units)"
        # progress: compiled code cannot call Python, so long passes are cut into chunks
        chunk = n if progress is None else 1024
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            self.step = self._call(MODE_TRAIN, X[lo:hi], lab[lo:hi], sh[lo:hi] if use_shift else sh,
                                   use_shift, mk[lo:hi] if use_mask else mk, use_mask, float(lr))
            if progress is not None:
                progress(hi - lo)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        import torch
        return torch.from_numpy(self.predict_numpy(_images(x, self.dtype)).astype(np.float32, copy=False))

    def predict_numpy(self, X: np.ndarray, *, per_example: bool = False) -> np.ndarray:
        """Outputs (N, 10) for images X (N, 16, 16) of the engine's dtype: 8 examples at a time
        (`_predict_kernel`), or with per_example the training forward one example at a time
        (`_kernel`'s MODE_PREDICT); the two agree bit for bit."""
        result = np.empty((X.shape[0], OUTPUTS), self.dtype)
        if per_example or self.tables.per_map:
            # (an H2 table not in blocks of 4: the batched kernel has block tiles only)
            self._call(MODE_PREDICT, X, result=result)
        else:
            _predict_kernel(X, self.settings.act, self.settings.out_act, self.p, self.tables,
                            self.predict_buf, result)
        return result


def _to_model(views: Params, g: Geometry = GEOMETRY) -> dict[str, torch.Tensor]:
    """Internal layout -> {name: float32 tensor of the model's shape} (a copy)."""
    import torch
    out = {}
    for (name, shape), w in zip(g.param_shapes.items(), views):
        if name in TRANSPOSED:
            w = w.T
        out[name] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32).reshape(shape).copy())
    return out


def _numpy(x) -> np.ndarray:
    """A torch tensor (or anything array-like) as a numpy array."""
    if isinstance(x, np.ndarray):
        return x
    import torch
    return torch.as_tensor(x).detach().cpu().numpy()


def _images(x, dtype) -> np.ndarray:
    a = _numpy(x)
    a = a.reshape(a.shape[0], IMAGE, IMAGE)
    return np.ascontiguousarray(a, dtype=dtype)
