"""Training: the reference per-sample loop in plain PyTorch, and the pass loop shared by engines.

The reference engine (`TorchEngine`) is the version a learner reads and edits: one example at a
time, in constant order, `zero_grad`, `backward`, `step` - the anchor reproduction's loop
(docs/reference.md). The fast engine (the package fast/) does the same arithmetic by hand; both implement

    train_pass(x, labels, lr, shifts, masks)   one pass over the training digits
    predict(x) -> (N, 10) float32 outputs       eval mode, no grad
    state_dict() -> {name: tensor}              the model's weights (H1w ... outb)

and `run` drives either: per pass the learning rate (`config.lr_at`), the random stream
(`pass_randomness`), evaluation of both splits (`metrics.summarize`), and the run folder's files
(written through store.py). `train_into` trains a run into a temporary folder and renames it into
place when it has finished: how the CLI and the ladders train.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import metrics
from .config import Config, lr_at
from .data import load_data  # noqa: F401 - train.load_data, as scripts and tests call it
from .model import Net1989
from .store import (STATUS_FILE, TMP_PREFIX, OutputError, clean_stale, metrics_text, net_config,  # noqa: F401
                    os_error_line, put_in_place, save_checkpoint, status_record, write_json, write_text)
# a run's inputs and result live in streams.py (the lockstep engine reads them without this
# module); the names stay importable from here
from .streams import (AnchorStreams, OurStreams, RunResult, check_train_size, make_streams,  # noqa: F401
                      pass_randomness, run_splits, sdlm_sample, training_split)


# -- the reference engine ----------------------------------------------------------------------
class TorchEngine:
    """Plain PyTorch, one example at a time: the anchor's loop."""

    name = "torch"

    def __init__(self, cfg: Config, model: Net1989) -> None:
        self.cfg = cfg
        self.model = model
        params = list(model.parameters())
        if cfg.optimizer == "sgd":
            self.opt = torch.optim.SGD(params, lr=cfg.lr)
        elif cfg.optimizer == "adamw":
            self.opt = torch.optim.AdamW(params, lr=cfg.lr)
        elif cfg.optimizer == "sdlm":
            self.opt = None         # stepped by hand in _sdlm_step (sdlm.py has the method)
            self.lr = cfg.lr
            self.h: dict[str, torch.Tensor] = {}
        else:  # pragma: no cover - Config validates the name
            raise ValueError(cfg.optimizer)

    def train_pass(self, x: torch.Tensor, labels: torch.Tensor, lr: float,
                   shifts: np.ndarray | None = None, masks: np.ndarray | None = None,
                   progress: Callable[[int], None] | None = None) -> None:
        model = self.model
        if self.opt is None:
            self.lr = lr
        else:
            for g in self.opt.param_groups:
                g["lr"] = lr
        y = metrics.targets(labels, value=self.cfg.target)
        m = torch.from_numpy(masks) if masks is not None else None
        model.train()
        threads = torch.get_num_threads()
        # One example at a time: the tensors are tiny, so one thread is fastest, and it spares
        # OpenMP from spinning against other work on the machine. The arithmetic is the same.
        torch.set_num_threads(1)
        try:
            self._loop(x, labels, y, m, shifts, progress)
        finally:
            torch.set_num_threads(threads)

    def _loop(self, x, labels, y, m, shifts, progress) -> None:
        model, opt, head, norm = self.model, self.opt, self.cfg.head, self.cfg.mse_norm
        for i in range(x.shape[0]):
            xi = x[[i]]
            if shifts is not None:
                xi = torch.roll(xi, (int(shifts[i, 0]), int(shifts[i, 1])), (2, 3))
            out = model(xi, m[i:i + 1] if m is not None else None)
            if head == "tanh" and norm == "mean":
                loss = torch.mean((y[[i]] - out) ** 2)
            elif head == "tanh":
                # Config.mse_norm: half the sum over the 10 outputs, or the sum
                loss = ((y[[i]] - out) ** 2).sum() * (0.5 if norm == "half-sum" else 1.0)
            else:
                loss = F.cross_entropy(out, labels[i:i + 1])
            if opt is None:
                model.zero_grad(set_to_none=True)
                loss.backward()
                self._sdlm_step(xi)
            else:
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if progress is not None and (i + 1) % 256 == 0:
                progress(256)
        if progress is not None:
            progress(x.shape[0] % 256)

    def estimate_hessian(self, x: torch.Tensor) -> None:
        """sdlm: the Gauss-Newton diagonal averaged over the digits x (before a pass)."""
        from .sdlm import gn_diagonal
        self.h = gn_diagonal(self.model, x, mse_norm=self.cfg.mse_norm)

    @torch.no_grad()
    def _sdlm_step(self, xi: torch.Tensor) -> None:
        mu = self.cfg.sdlm_mu
        for name, p in self.model.named_parameters():
            p -= self.lr / (mu + self.h[name]) * p.grad
        g = self.cfg.sdlm_running
        if g > 0:
            from .sdlm import gn_diagonal
            hi = gn_diagonal(self.model, xi, mse_norm=self.cfg.mse_norm)
            for name in self.h:
                self.h[name] = (1 - g) * self.h[name] + g * hi[name]

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        was = self.model.training
        self.model.eval()
        try:
            return self.model(x)
        finally:
            self.model.train(was)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}


def make_engine(name: str, cfg: Config, model: Net1989):
    if name == "torch":
        return TorchEngine(cfg, model)
    if name == "fast":
        from .fast import FastEngine
        return FastEngine(cfg, model)
    if name == "lockstep":
        # one run on the lockstep engine (its numbers are the same in any group); run_group
        # trains many seeds K at a time
        from .lockstep import SingleRun
        return SingleRun(cfg, model)
    raise ValueError(f"unknown engine {name!r}")


# -- the run -----------------------------------------------------------------------------------
def _bar_args(cfg: Config, pass_index: int, n: int) -> dict:
    """The progress bar of one pass, counting over the whole run, so its ETA is the run's."""
    from .store import expected_passes
    total = expected_passes(cfg)
    return dict(total=total * n, initial=pass_index * n, desc=f"pass {pass_index + 1}/{total}",
                leave=False, unit="digit", unit_scale=True)


def run(cfg: Config, *, engine: str = "fast", data=None, data_root=None,
        out: str | os.PathLike | None = None,
        on_pass: Callable[[int, dict, dict], None] | None = None,
        progress: bool | None = None, eval_train: bool = True) -> RunResult:
    """Train one run from its seed and evaluate both splits after every pass.

    on_pass(pass_number, train_record, test_record) is called after each pass (1-based).
    progress: a progress bar during each pass, counting over the whole run so that its ETA is
    the run's (default: when stderr is a terminal).
    eval_train: False evaluates the training split after the last pass only (the test split
    after every pass; on_pass then gets None for the train record of the other passes).
    out: a folder for config.json, metrics.jsonl (strict JSON: a non-finite loss is null, with
    "diverged": true), rejection.json and checkpoint.pt, each written atomically. (The CLI and
    the ladders train into a temporary folder renamed when finished: train_into.)
    """
    t0 = time.perf_counter()
    xtr, ytr, xte, yte = run_splits(cfg, data, data_root)
    if engine == "torch":
        torch.use_deterministic_algorithms(True)    # as the anchor does
    streams = make_streams(cfg)
    model = streams.model()
    eng = make_engine(engine, cfg, model)
    result = RunResult(config=cfg, engine=engine)
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / "config.json", {**cfg.to_dict(), "engine": engine, "config_hash": cfg.hash()})
    show = sys.stderr.isatty() if progress is None else progress
    # with stop_after, only the first passes of the schedule over cfg.passes are trained
    for p in range(cfg.last_pass):
        shifts, masks = streams.next_pass(p, xtr.shape[0])
        if cfg.optimizer == "sdlm":
            eng.estimate_hessian(xtr[torch.from_numpy(sdlm_sample(cfg, p, xtr.shape[0]))])
        bar = None
        if show:
            from tqdm import tqdm
            bar = tqdm(**_bar_args(cfg, p, xtr.shape[0]))
        try:
            eng.train_pass(xtr, ytr, lr_at(cfg, p), shifts, masks, bar.update if bar else None)
        finally:
            if bar is not None:
                bar.close()
        recs = {}
        for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):
            if split == "train" and not (eval_train or p + 1 == cfg.last_pass):
                continue
            rec = metrics.summarize(eng.predict(x), y, cfg.head, cfg.target)
            recs[split] = {"pass": p + 1, "split": split, **rec}
            result.records.append(recs[split])
        if out_dir is not None:
            write_text(out_dir / "metrics.jsonl", metrics_text(result.records))
        if on_pass is not None:
            on_pass(p + 1, recs.get("train"), recs["test"])
        if not all(math.isfinite(r["loss"]) for r in recs.values()):
            result.diverged_at = p + 1
            break
    result.state = eng.state_dict()
    result.seconds = time.perf_counter() - t0
    if out_dir is not None:
        share, err = metrics.rejection_curve(eng.predict(xte), yte, cfg.head)
        write_json(out_dir / "rejection.json", {
            "split": "test", "pass": result.records[-1]["pass"], "criterion": "margin between the two most active outputs",
            "rejected": [round(float(v), 6) for v in share], "error_on_rest": [round(float(v), 6) for v in err]})
        save_checkpoint(out_dir / "checkpoint.pt", result.state, cfg)
    return result


def run_group(cfg: Config, seeds, *, engine: str = "lockstep", data=None, data_root=None,
              out_dirs=None, eval_train: bool = True, k: int | None = None) -> list[RunResult]:
    """`run` for each of `seeds` (cfg with its seed replaced): one RunResult per seed, in order.
    engine "lockstep" trains K seeds at a time, one per vector lane (lockstep.run_group; K the
    CPU's vector width unless given, any number of seeds); other engines run one seed after another."""
    seeds = list(seeds)
    if engine == "lockstep":
        from .lockstep import run_group as lockstep_group
        return lockstep_group(cfg, seeds, data=data, data_root=data_root, out_dirs=out_dirs, k=k,
                              eval_train=eval_train)
    if data is None:
        data = load_data(cfg, data_root)
    dirs = out_dirs if out_dirs is not None else [None] * len(seeds)
    return [run(cfg.with_overrides(seed=s), engine=engine, data=data, out=d, progress=False,
                eval_train=eval_train) for s, d in zip(seeds, dirs)]


# -- into a run folder ------------------------------------------------------------------------
def _train_in_place(finals: list[Path], train: Callable[[list[Path]], list[RunResult]], *, engine: str,
                    replace: bool, removed: str) -> list[RunResult]:
    """train(temporary folders) -> one RunResult per folder, each folder `.tmp-<name>-<pid>`
    beside its final folder; then every status.json is written and every folder renamed into
    place. Any failure removes every temporary folder (`removed` says so in an output error)."""
    for parent in dict.fromkeys(f.parent for f in finals):
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(os_error_line(e, e.filename or parent)) from None
        clean_stale(parent)
    tmps = [f.parent / f"{TMP_PREFIX}{f.name}-{os.getpid()}" for f in finals]
    try:
        for tmp in tmps:
            if tmp.exists():
                shutil.rmtree(tmp)
        results = train(tmps)
        for res, tmp in zip(results, tmps):
            write_json(tmp / STATUS_FILE, status_record(res.config, engine, res))
        for tmp, final in zip(tmps, finals):
            put_in_place(tmp, final, replace)
    except (OSError, OutputError) as e:     # outputs only: data problems are DataErrors
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)
        line = str(e) if isinstance(e, OutputError) else os_error_line(e, e.filename or tmps[0])
        for tmp, final in zip(tmps, finals):
            line = line.replace(str(tmp), str(final))
        raise OutputError(f"{line} ({removed})") from None
    except BaseException:
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return results


def train_into(cfg: Config, final: str | os.PathLike, *, engine: str = "fast", data=None, data_root=None,
               on_pass=None, progress: bool | None = None, replace: bool = False) -> RunResult:
    """Train one run into `.tmp-<name>-<pid>` beside `final`, write status.json, then rename it
    to `final`. Returns the RunResult.

    Nothing is left under `final` unless the run finished; an interruption or a failure removes
    the temporary folder. replace=True: a run folder already at `final` is replaced (the CLI's
    `train`); else an existing `final` that holds a finished run is kept (a concurrent twin)."""
    def train(tmps):
        return [run(cfg, engine=engine, data=data, data_root=data_root, out=tmps[0], on_pass=on_pass,
                    progress=progress)]
    return _train_in_place([Path(final)], train, engine=engine, replace=replace,
                           removed="the unfinished run was removed")[0]


def train_group_into(cfg: Config, seeds, finals, *, engine: str = "lockstep", data=None, data_root=None,
                     k: int | None = None) -> list[RunResult]:
    """train_into for several seeds of one config trained together (run_group: engine "lockstep"
    trains them K at a time in vector lanes): each seed into its own `.tmp-<name>-<pid>` beside
    its final folder, status.json written, then every folder renamed into place. Returns one
    RunResult per seed, in order.

    As with train_into, nothing is left under any final folder unless its run finished; an
    interruption or a failure of the group removes every temporary folder of the group (the
    runs of a group finish together, so none of them is kept half-written)."""
    seeds, finals = list(seeds), [Path(f) for f in finals]
    if len(seeds) != len(finals):
        raise ValueError("train_group_into: one final folder per seed")

    def train(tmps):
        return run_group(cfg, seeds, engine=engine, data=data, data_root=data_root, out_dirs=tmps, k=k)
    return _train_in_place(finals, train, engine=engine, replace=False,
                           removed="the unfinished runs of the group were removed")
