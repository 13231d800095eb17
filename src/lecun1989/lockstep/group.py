"""run_group: train.run for many seeds of one config, K at a time."""

from __future__ import annotations

import math

import numpy as np

from ..config import Config
from ..geometry import H2_UNITS
from .common import check_supported, cpu_lanes
from .engine import LockstepEngine, _images


def group_lanes(runs: int, k: int) -> int:
    """The lanes of a group of `runs` runs when groups hold up to k: k, or for a last group of at
    most k/2 runs the smallest power of two (at least 4) that holds it - a narrower vector costs
    less per example (CPU seconds per group and example on the AVX-512 machine, 2026-12-02:
    K = 4: 26, 8: 28, 16: 43 us) and gives every run the same numbers."""
    if runs >= k:
        return k
    return min(k, max(4, 1 << (runs - 1).bit_length()))


def run_group(cfg: Config, seeds, *, data=None, data_root=None, out_dirs=None, k: int | None = None,
              eval_train: bool = True, on_pass=None) -> list:
    """train.run for each of `seeds` (cfg with its seed replaced), trained K at a time in lockstep.
    Returns one train.RunResult per seed, in order, with the records and weights train.run gives
    for that seed (to float32 rounding against the fast engine; a run's numbers do not depend on
    which seeds share its group, nor on K). The last group holds the remaining seeds, in
    `group_lanes` lanes (padded with copies of its last run, whose results are dropped).

    out_dirs: one folder per seed (or None) for config.json, metrics.jsonl, rejection.json and
    checkpoint.pt, as train.run writes them. on_pass(seed, pass_number, train_record, test_record)
    after each pass of each run. A run whose loss becomes non-finite stops as in train.run (its
    lane goes on computing in the group, unrecorded)."""
    check_supported(cfg)
    k = int(k or cpu_lanes())
    seeds = list(seeds)
    if out_dirs is not None and len(out_dirs) != len(seeds):
        raise ValueError("out_dirs: one folder per seed")
    results = []
    for g in range(0, len(seeds), k):
        part = seeds[g:g + k]
        results += _run_one_group(cfg, part, data=data, data_root=data_root,
                                  out_dirs=None if out_dirs is None else out_dirs[g:g + k],
                                  k=group_lanes(len(part), k), eval_train=eval_train, on_pass=on_pass)
    return results


def _run_one_group(cfg, seeds, *, data, data_root, out_dirs, k, eval_train, on_pass) -> list:
    import time
    from pathlib import Path

    import torch

    from .. import metrics
    from ..config import lr_at
    from ..store import metrics_text, save_checkpoint, write_json, write_text
    from ..streams import RunResult, make_streams, run_splits, sdlm_sample
    t0 = time.perf_counter()
    xtr, ytr, xte, yte = run_splits(cfg, data, data_root)
    Xtr, Xte = _images(xtr), _images(xte)
    cfgs = [cfg.with_overrides(seed=s) for s in seeds]
    streams = [make_streams(c) for c in cfgs]
    eng = LockstepEngine(cfg, [s.model() for s in streams], k=k)
    results = [RunResult(config=c, engine="lockstep") for c in cfgs]
    dirs = [None] * len(seeds) if out_dirs is None else [None if d is None else Path(d) for d in out_dirs]
    for c, d in zip(cfgs, dirs):
        if d is not None:
            d.mkdir(parents=True, exist_ok=True)
            write_json(d / "config.json", {**c.to_dict(), "engine": "lockstep", "config_hash": c.hash()})
    live = list(range(len(seeds)))            # the runs still training (not diverged)
    n = xtr.shape[0]
    for p in range(cfg.last_pass):
        shifts, masks = [None] * len(seeds), [None] * len(seeds)
        for r in live:
            shifts[r], masks[r] = streams[r].next_pass(p, n)
        for r in range(len(seeds)):
            if r not in live:               # a diverged lane: any numbers of the right shape
                shifts[r] = None if shifts[live[0]] is None else np.zeros((n, 2), np.int64)
                masks[r] = None if masks[live[0]] is None else np.ones((n, H2_UNITS), np.float32)
        if cfg.optimizer == "sdlm":
            eng.estimate_hessian(xtr, [sdlm_sample(c, p, n) for c in cfgs])
        eng.train_pass(xtr, ytr, lr_at(cfg, p), shifts, masks)
        outs = {}
        for split, X, y in (("train", Xtr, ytr), ("test", Xte, yte)):
            if split == "train" and not (eval_train or p + 1 == cfg.last_pass):
                continue
            outs[split] = (eng.predict_numpy(X), y)
        states = None
        for r in list(live):
            recs = {}
            for split, (o, y) in outs.items():
                rec = metrics.summarize(torch.from_numpy(o[r]), y, cfg.head, cfg.target)
                recs[split] = {"pass": p + 1, "split": split, **rec}
                results[r].records.append(recs[split])
            if dirs[r] is not None:
                write_text(dirs[r] / "metrics.jsonl", metrics_text(results[r].records))
            if on_pass is not None:
                on_pass(seeds[r], p + 1, recs.get("train"), recs["test"])
            if not all(math.isfinite(v["loss"]) for v in recs.values()):
                results[r].diverged_at = p + 1
                states = eng.state_dicts() if states is None else states
                results[r].state = states[r]
                live.remove(r)
        if not live:
            break
    final = eng.state_dicts()
    test_out = eng.predict_numpy(Xte)
    secs = time.perf_counter() - t0
    for r, res in enumerate(results):
        if res.diverged_at is None:
            res.state = final[r]
        res.seconds = secs / len(seeds)   # the group's time, shared out
        if dirs[r] is not None:
            # the outputs of the last pass trained (a diverged run: NaN from then on, as its weights)
            out_r = torch.from_numpy(test_out[r] if res.diverged_at is None else
                                     LockstepEngine(cfg, [_model_of(cfg, res.state)], k=k).predict_numpy(Xte)[0])
            share, err = metrics.rejection_curve(out_r, yte, cfg.head)
            write_json(dirs[r] / "rejection.json", {
                "split": "test", "pass": res.records[-1]["pass"],
                "criterion": "margin between the two most active outputs",
                "rejected": [round(float(v), 6) for v in share], "error_on_rest": [round(float(v), 6) for v in err]})
            save_checkpoint(dirs[r] / "checkpoint.pt", res.state, res.config)
    return results


def _model_of(cfg: Config, state: dict):
    from ..model import Net1989
    from ..store import net_config
    m = Net1989(net_config(cfg))
    m.load_state_dict(state)
    return m
