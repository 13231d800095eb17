"""LockstepEngine: K runs of one config in lockstep (the engine's Python side: lanes in, lanes out);
SingleRun: one run as lane 0 of a group, for train.make_engine."""

from __future__ import annotations

import numpy as np

from ..config import Config, MSE_FACTOR
from ..geometry import H1_MAPS, H1_SIDE, H2_UNITS, IMAGE, OUTPUTS, PAD, PARAM_SHAPES
from ..lanevec import width_tag
from .common import (ALIGN, BG, H1PAD, MODE_HESSIAN, MODE_PREDICT, MODE_TRAIN, N_PARAMS, N_SCRATCH, OFFSETS,
                     OPT, SCR, XPAD, _SIZES, activation_codes, check_supported, cpu_lanes, h2_groups, table_of)
from .compilation import ensure_compiled
from .kernel import _kernel


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
        ensure_compiled()       # a cache older than any of the kernels' sources is dropped first
        check_supported(cfg)
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
