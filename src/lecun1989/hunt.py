"""A validated search of what LeCun et al. 1989 leave unsaid (docs/paper.md, "The hunt").

The paper gives the net, the units (a scaled tanh), the optimizer's kind (a diagonal Newton
method: `sdlm` here), 23 passes in constant order, one digit at a time, and its results on 7291
/ 2007 zip-code digits. It does not give the H2 connection scheme, the targets, the optimizer's
constants and schedule, the MSE's normalisation or the exact initialisation. This module searches
those unknowns with Optuna (TPE sampler, median pruning over seeds) on a validation split of the
USPS *training* digits only:

    validation: the last 1000 of the 7291 digits in zip.train (the file's order, which is shuffled
    by class); the search trains on the first 6291 in their file order (the paper's constant
    order) and scores each trial by the mean validation error over its seeds. zip.test.gz is
    never opened: `load_usps_train` reads zip.train.gz alone, and the search runs with the test
    file absent (tests/test_hunt.py).

The study lives in an SQLite file (`study.db` in the output folder): an interrupted search
resumes where it stopped (finished trials are kept; trials a killed worker left running are
failed by Optuna's heartbeat and retried once), and a trial budget counts the trials of every
session. `confirm` re-trains the best trials, and the paper's own steps p1 and p2, on fresh seeds
(still on validation), so that the reading chosen for the preset p4 is not just the luckiest of
many noisy trials. `write_summary` writes hunt.json, trials.csv and the figures (Optuna's
matplotlib plots).

    lecun1989 hunt --data-root DIR --out runs/hunt --minutes 40 --jobs 2
    lecun1989 hunt --data-root DIR --out runs/hunt --confirm 6 --confirm-seeds 5
"""

from __future__ import annotations

import csv
import json
import logging
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .data import Dataset, Split, load_usps_train
from .store import write_text

log = logging.getLogger(__name__)

VALIDATION = 1000                         # the last 1000 of the 7291 USPS training digits
SEARCH_SEEDS = (1337, 1338, 1339)         # every trial's seeds: the same for all (paired comparisons)
CONFIRM_SEEDS = tuple(range(2001, 2011))  # fresh seeds for re-training the best trials
STUDY = "lecun1989-hunt"
_STALE_KW = ""

# What the paper gives (fixed in every trial): the 1989 net on the real digits (usps), scaled
# tanh units and output, the diagonal Newton method, 23 passes, one digit at a time, constant order.
KNOWN = Config(data="usps", activation="scaled-tanh", optimizer="sdlm", lr=3e-4, sdlm_mu=0.02)

# The unknowns and their ranges; each maps to Config fields (`config_of`). The MSE normalisation
# is not searched: with sdlm, eps / (mu + c h) (c g) = eps / (mu / c + h) g, so a normalisation
# factor c is exactly a rescaled mu, which is searched (tests/test_fast.py checks the identity).
SPACE = {
    "h2": ("categorical", ("anchor", "lenet5", "random-1", "random-2", "random-3"),
           "H2 connection table (Config.h2_scheme, h2_seed)"),
    "target": ("float", (0.6, 1.6), "tanh-head target value +-T (Config.target); f(1) = 1 for the scaled tanh"),
    "eps": ("log", (5e-5, 3e-3), "sdlm's eps (Config.lr)"),
    "schedule": ("categorical", ("constant", "linear", "lenet5"), "eps schedule (Config.schedule)"),
    "mu": ("log", (2e-3, 0.5), "sdlm's mu (Config.sdlm_mu)"),
    "sample": ("categorical", (100, 500, 2000), "digits for the Hessian estimate before each pass (Config.sdlm_sample)"),
    "running": ("categorical", (0.0, 0.001, 0.01), "running average of the Hessian, per digit (Config.sdlm_running)"),
    "init": ("categorical", ("sqrt", "fanin"), "init U(+-2.4/sqrt(F)) or U(+-2.4/F) (Config.init)"),
}
# p2's reading, the first trial of every new study (the search's baseline)
BASELINE = {"h2": "anchor", "target": 1.0, "eps": 3e-4, "schedule": "constant", "mu": 0.02,
            "sample": 500, "running": 0.0, "init": "sqrt"}


def suggest(trial) -> dict:
    out = {}
    for name, (kind, rng, _) in SPACE.items():
        if kind == "categorical":
            out[name] = trial.suggest_categorical(name, list(rng))
        else:
            out[name] = trial.suggest_float(name, rng[0], rng[1], log=kind == "log")
    return out


def config_of(params: dict, *, passes: int = 23, seed: int = 1337, base: Config = KNOWN) -> Config:
    """The run config of one point of SPACE."""
    h2 = params["h2"]
    scheme, _, s = h2.partition("-")
    return base.with_overrides(
        h2_scheme=scheme, h2_seed=int(s) if s else 0, target=float(params["target"]),
        lr=float(params["eps"]), schedule=params["schedule"], sdlm_mu=float(params["mu"]),
        sdlm_sample=int(params["sample"]), sdlm_running=float(params["running"]), init=params["init"],
        passes=passes, seed=seed)


def validation_data(root=None, n_val: int = VALIDATION) -> Dataset:
    """USPS training digits split into the first 7291 - n_val (train, file order) and the last
    n_val (as the `test` split: validation). Reads zip.train.gz only."""
    s = load_usps_train(root)
    n = len(s) - n_val
    return Dataset(name="usps-validation", train=Split(s.x[:n], s.y[:n]), test=Split(s.x[n:], s.y[n:]),
                   normalisation="usps",
                   description=f"USPS zip.train: first {n} digits train, last {n_val} validate (zip.test unused)")


@dataclass
class RunScore:
    seed: int
    val_misses: int
    val_error: float          # fraction
    val_mse: float
    train_misses: int
    train_error: float
    train_mse: float
    val_reject: float
    diverged: bool
    seconds: float

    def to_json(self) -> dict:
        return dict(self.__dict__)


def score_run(cfg: Config, data: Dataset) -> RunScore:
    from . import train
    r = train.run(cfg, engine="fast", data=data, progress=False, eval_train=False)
    v, t = r.final("test"), r.final("train")
    return RunScore(seed=cfg.seed, val_misses=v["misses"], val_error=v["error"], val_mse=v["loss"],
                    train_misses=t["misses"], train_error=t["error"], train_mse=t["loss"],
                    val_reject=v["reject_1pct"], diverged=r.diverged_at is not None, seconds=r.seconds)


def _finite(v: float) -> float:
    return v if math.isfinite(v) else 1.0


def objective(trial, data: Dataset, seeds, passes: int) -> float:
    """Mean validation error (%) over the seeds; after each seed the running mean is reported so
    that the median pruner can stop a trial that is clearly worse than the others."""
    import optuna
    params = suggest(trial)
    scores: list[RunScore] = []
    for k, seed in enumerate(seeds):
        scores.append(score_run(config_of(params, passes=passes, seed=seed), data))
        trial.set_user_attr("runs", [s.to_json() for s in scores])
        mean = 100 * statistics.fmean(s.val_error for s in scores)
        trial.report(mean, k)
        if k + 1 < len(seeds) and trial.should_prune():
            raise optuna.TrialPruned()
    trial.set_user_attr("val_mse", statistics.fmean(_finite(s.val_mse) for s in scores))
    trial.set_user_attr("train_error", 100 * statistics.fmean(s.train_error for s in scores))
    return 100 * statistics.fmean(s.val_error for s in scores)


# -- the study ---------------------------------------------------------------------------------------
def _stale_kw() -> str:
    import inspect

    import optuna
    params = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
    return "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params else "failed_trial_callback"


def _storage(out: Path):
    import optuna
    from optuna.storages import RetryFailedTrialCallback
    global _STALE_KW
    _STALE_KW = _STALE_KW or _stale_kw()     # (the keyword's name changed in optuna 4.9)
    return optuna.storages.RDBStorage(
        f"sqlite:///{out / 'study.db'}", engine_kwargs={"connect_args": {"timeout": 120}},
        heartbeat_interval=30, grace_period=120, **{_STALE_KW: RetryFailedTrialCallback(max_retry=1)})


def open_study(out: Path, sampler_seed: int = 1989):
    import optuna
    _quiet()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=16, multivariate=True,
                                         constant_liar=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=12, n_warmup_steps=0)
    study = optuna.create_study(study_name=STUDY, storage=_storage(out), sampler=sampler, pruner=pruner,
                                direction="minimize", load_if_exists=True)
    if not study.trials:
        study.enqueue_trial(BASELINE)
        study.set_user_attr("created", time.strftime("%Y-%m-%d %H:%M:%S"))
    return study


def _worker(out: str, data_root, trials: int, deadline: float, seeds, passes: int, n_val: int, worker: int) -> None:
    """One search process: trials until the study holds `trials` finished ones or the deadline."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState
    import torch
    torch.set_num_threads(1)
    data = validation_data(data_root, n_val)
    study = open_study(Path(out), sampler_seed=1989 + worker)
    stop = MaxTrialsCallback(trials, states=(TrialState.COMPLETE, TrialState.PRUNED))
    left = deadline - time.time()
    if left > 0:
        study.optimize(lambda t: objective(t, data, seeds, passes), timeout=left, callbacks=[stop],
                       catch=(FloatingPointError,), gc_after_trial=False)
    del optuna


def _echo(line: str) -> None:
    print(line, flush=True)


def _quiet() -> None:
    """Optuna's experimental/deprecation notices about the heartbeat options, once per process."""
    import warnings
    warnings.filterwarnings("ignore", module="optuna")
    warnings.filterwarnings("ignore", message=".*(experimental|deprecated).*")


def _counts(study) -> dict:
    from optuna.trial import TrialState
    c = {"complete": 0, "pruned": 0, "failed": 0, "running": 0}
    for t in study.get_trials(deepcopy=False):
        key = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
               TrialState.RUNNING: "running"}.get(t.state)
        if key:
            c[key] += 1
    return c


def _fmt_s(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def progress_line(row: dict) -> str:
    """One fixed-column progress line from an explicit dict."""
    best = f"{row['best']:6.2f}% (#{row['best_trial']})" if row["best"] is not None else "     -"
    return (f"hunt  trials {row['done']:4d}/{row['total']:<4d}  pruned {row['pruned']:4d}  failed {row['failed']:3d}  "
            f"running {row['running']:2d}  best {best:<16s}  elapsed {_fmt_s(row['elapsed']):>7s}  "
            f"ETA {_fmt_s(row['eta']) if row['eta'] is not None else '-':>7s}")


def search(out, *, data_root=None, trials: int = 200, minutes: float = 40.0, jobs: int = 2,
           seeds=SEARCH_SEEDS, passes: int = 23, n_val: int = VALIDATION, poll: float = 20.0,
           echo=None) -> dict:
    """Run (or resume) the search in `jobs` processes until `trials` trials of the study have
    finished (completed or pruned, every session counted) or `minutes` have passed in this
    session; prints a progress line with an ETA every `poll` seconds."""
    import multiprocessing as mp
    echo = echo or _echo
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    validation_data(data_root, n_val)               # fail early (one-line DataError) if zip.train is missing
    study = open_study(out)
    t0 = time.time()
    deadline = t0 + 60 * minutes
    c = _counts(study)
    start_done = c["complete"] + c["pruned"]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(out), data_root, trials, deadline, tuple(seeds), passes, n_val, w))
             for w in range(jobs)]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            for p in procs:
                p.join(timeout=poll / len(procs))
            echo(progress_line(_progress(study, trials, t0, deadline, start_done)))
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        raise
    row = _progress(study, trials, t0, deadline, start_done)
    echo(progress_line(row))
    return row


def _progress(study, trials, t0, deadline, start_done) -> dict:
    c = _counts(study)
    done = c["complete"] + c["pruned"]
    elapsed = time.time() - t0
    rate = (done - start_done) / elapsed if elapsed > 0 else 0.0
    eta = None
    if done >= trials:
        eta = 0.0
    elif rate > 0:
        eta = min((trials - done) / rate, max(0.0, deadline - time.time()))
    best = best_trial = None
    try:
        b = study.best_trial
        best, best_trial = b.value, b.number
    except ValueError:
        pass
    return {"done": done, "total": trials, "pruned": c["pruned"], "failed": c["failed"], "running": c["running"],
            "best": best, "best_trial": best_trial, "elapsed": elapsed, "eta": eta}


# -- confirmation on fresh seeds -------------------------------------------------------------------
def _confirm_one(args) -> dict:
    name, cfg_dict, data_root, n_val = args
    import torch
    torch.set_num_threads(1)
    data = _confirm_one.data = getattr(_confirm_one, "data", None) or validation_data(data_root, n_val)
    s = score_run(Config.from_dict(cfg_dict), data)
    return {"name": name, **s.to_json()}


def _map(fn, items, jobs: int):
    """fn over items in `jobs` spawned processes (results as they finish), or here for one job."""
    if jobs <= 1:
        yield from map(fn, items)
        return
    import multiprocessing as mp
    with mp.get_context("spawn").Pool(jobs) as pool:
        yield from pool.imap_unordered(fn, items)


def confirm(out, *, data_root=None, top: int = 6, seeds=CONFIRM_SEEDS, passes: int = 23, jobs: int = 2,
            n_val: int = VALIDATION, echo=None) -> dict:
    """Re-train the `top` best completed trials, and the paper ladder's p1 and p2 configs, on
    fresh seeds - on the validation split again - and write confirm.json. The chosen reading is
    the one with the lowest mean validation error over its search and fresh seeds."""
    from optuna.trial import TrialState

    from .config import preset
    echo = echo or _echo
    out = Path(out)
    study = open_study(out)
    done = sorted((t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE),
                  key=lambda t: t.value)[:top]
    cands = {f"trial {t.number}": (t.params, config_of(t.params, passes=passes)) for t in done}
    cands["p2 (baseline)"] = (BASELINE, preset("p2").config.with_overrides(passes=passes))
    cands["p1"] = (None, preset("p1").config.with_overrides(passes=passes))
    jobs_list = [(name, cfg.with_overrides(seed=s).to_dict(), data_root, n_val)
                 for name, (_, cfg) in cands.items() for s in seeds]
    t0 = time.time()
    rows = _retrain("confirm ", jobs_list, jobs, echo, 14)
    by: dict[str, dict] = {}
    trial_of = {f"trial {t.number}": t for t in done}
    for name, (params, cfg) in cands.items():
        rs = sorted((r for r in rows if r["name"] == name), key=lambda r: r["seed"])
        fresh = [100 * r["val_error"] for r in rs]
        entry = {"params": params, "config": {k: v for k, v in cfg.to_dict().items()
                                              if v != Config.__dataclass_fields__[k].default and k != "seed"},
                 "fresh_seeds": [r["seed"] for r in rs], "fresh_val_error": fresh,
                 "fresh_val_error_mean": statistics.fmean(fresh),
                 "fresh_val_error_sd": statistics.stdev(fresh) if len(fresh) > 1 else 0.0,
                 "fresh_val_mse_mean": statistics.fmean(_finite(r["val_mse"]) for r in rs),
                 "fresh_train_error_mean": statistics.fmean(100 * r["train_error"] for r in rs),
                 "fresh_val_reject_mean": statistics.fmean(100 * r["val_reject"] for r in rs),
                 "runs": rs}
        t = trial_of.get(name)
        if t is not None:
            search_err = [100 * r["val_error"] for r in t.user_attrs["runs"]]
            entry["search_val_error_mean"] = t.value
            entry["all_val_error_mean"] = statistics.fmean(search_err + fresh)
        by[name] = entry
    best = min((n for n in by if n.startswith("trial")), key=lambda n: by[n]["all_val_error_mean"])
    result = {"seeds": list(seeds), "passes": passes, "validation": validation_data.__doc__.split(".")[0],
              "candidates": by, "chosen": best, "seconds": time.time() - t0, "provenance": _provenance()}
    write_text(out / "confirm.json", json.dumps(result, indent=2) + "\n")
    echo(f"chosen: {best} {by[best]['params']} - validation {by[best]['all_val_error_mean']:.2f}% over "
         f"{len(SEARCH_SEEDS) + len(seeds)} seeds (fresh {by[best]['fresh_val_error_mean']:.2f}%; "
         f"p2 {by['p2 (baseline)']['fresh_val_error_mean']:.2f}%, p1 {by['p1']['fresh_val_error_mean']:.2f}%)")
    return result


def _retrain(what: str, jobs_list: list, jobs: int, echo, width: int) -> list[dict]:
    """Train the (name, config, data_root, n_val) jobs on `jobs` processes (validation only), one
    progress line per finished run with elapsed time and ETA; the results in finishing order."""
    t0 = time.time()
    rows: list[dict] = []
    for i, r in enumerate(_map(_confirm_one, jobs_list, jobs), 1):
        rows.append(r)
        el = time.time() - t0
        echo(f"{what} runs {i:3d}/{len(jobs_list):<3d}  {r['name']:<{width}s} seed {r['seed']}  "
             f"val misses {r['val_misses']:3d}  elapsed {_fmt_s(el):>7s}  ETA {_fmt_s(el / i * (len(jobs_list) - i)):>7s}")
    return rows


def ablate(out, params: dict, *, data_root=None, seeds=CONFIRM_SEEDS[:5], passes: int = 23, jobs: int = 2,
           n_val: int = VALIDATION, echo=None) -> dict:
    """What each unknown does: from the reading `params`, put one unknown at a time back to p2's
    value (BASELINE), re-train on the fresh seeds (validation only) and write ablation.json."""
    echo = echo or _echo
    out = Path(out)
    points = {"chosen": params}
    for k in SPACE:
        if params[k] != BASELINE[k]:
            points[f"{k} -> {BASELINE[k]}"] = {**params, k: BASELINE[k]}
    jobs_list = [(name, config_of(p, passes=passes, seed=s).to_dict(), data_root, n_val)
                 for name, p in points.items() for s in seeds]
    t0 = time.time()
    rows = _retrain("ablate ", jobs_list, jobs, echo, 28)
    res = {}
    for name, p in points.items():
        rs = sorted((r for r in rows if r["name"] == name), key=lambda r: r["seed"])
        res[name] = {"params": p, "val_misses": [r["val_misses"] for r in rs],
                     "val_error_mean": statistics.fmean(100 * r["val_error"] for r in rs),
                     "val_error_sd": statistics.stdev([100 * r["val_error"] for r in rs]) if len(rs) > 1 else 0.0,
                     "val_mse_mean": statistics.fmean(_finite(r["val_mse"]) for r in rs),
                     "train_error_mean": statistics.fmean(100 * r["train_error"] for r in rs),
                     "train_mse_mean": statistics.fmean(_finite(r["train_mse"]) for r in rs)}
    base = res["chosen"]["val_misses"]
    for name, v in res.items():
        d = [a - b for a, b in zip(v["val_misses"], base)]
        v["delta_val_misses_mean"] = statistics.fmean(d)
        v["delta_val_misses_sd"] = statistics.stdev(d) if len(d) > 1 else 0.0
    result = {"seeds": list(seeds), "passes": passes, "points": res, "seconds": time.time() - t0,
              "what": "one unknown at a time put back to p2's value, validation digits only; delta = paired "
                      "difference of validation misses (of 1000) against the chosen reading, same seeds",
              "provenance": _provenance()}
    write_text(out / "ablation.json", json.dumps(result, indent=2) + "\n")
    for name, v in res.items():
        echo(f"{name:<28s} validation {v['val_error_mean']:5.2f}%  delta misses {v['delta_val_misses_mean']:+6.1f} "
             f"(sd {v['delta_val_misses_sd']:.1f})  train {v['train_error_mean']:.2f}%")
    return result


# -- summary and figures ---------------------------------------------------------------------------
def _provenance() -> dict:
    from .store import provenance
    info = provenance()
    try:
        import optuna
        info["optuna"] = optuna.__version__
    except ImportError:  # pragma: no cover
        pass
    return info


def write_summary(out, *, budget: dict | None = None, figures: bool = True) -> dict:
    """hunt.json (the search's small results: space, budget, counts, best, top 10, importances),
    trials.csv (one row per trial) and, with figures, history.png, importance.png, slice.png."""
    import optuna
    from optuna.trial import TrialState
    out = Path(out)
    study = open_study(out)
    trials = study.get_trials(deepcopy=False)
    complete = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    with open(out / "trials.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["number", "state", "val_error_mean", "val_mse_mean", "train_error_mean", "seconds",
                    *SPACE, "val_misses_per_seed"])
        for t in trials:
            runs = t.user_attrs.get("runs", [])
            dur = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else ""
            w.writerow([t.number, t.state.name, "" if t.value is None else round(t.value, 4),
                        round(t.user_attrs["val_mse"], 6) if "val_mse" in t.user_attrs else "",
                        round(t.user_attrs["train_error"], 4) if "train_error" in t.user_attrs else "",
                        round(dur, 1) if dur != "" else "", *[t.params.get(k, "") for k in SPACE],
                        " ".join(str(r["val_misses"]) for r in runs)])
    importance = {}
    if len(complete) >= 4:
        importance = {k: round(float(v), 4) for k, v in
                      optuna.importance.get_param_importances(study, evaluator=_evaluator()).items()}

    def row(t):
        return {"number": t.number, "val_error_mean": t.value, "val_mse_mean": t.user_attrs.get("val_mse"),
                "train_error_mean": t.user_attrs.get("train_error"), "params": t.params,
                "val_misses": [r["val_misses"] for r in t.user_attrs.get("runs", [])]}
    baseline = next((t for t in trials if t.number == 0 and t.state == TrialState.COMPLETE), None)
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    summary = {
        "what": "Optuna search of the unknowns of LeCun et al. 1989 on USPS validation digits (issue 16)",
        "validation": f"USPS zip.train: first {7291 - VALIDATION} digits train (file order), last {VALIDATION} validate; zip.test never read",
        "known": {k: v for k, v in KNOWN.to_dict().items() if v != Config.__dataclass_fields__[k].default or k == "passes"},
        "space": {k: {"kind": kind, "range": list(rng), "what": what} for k, (kind, rng, what) in SPACE.items()},
        "objective": "mean validation error (%) over the trial's seeds; pruned by the median of the running mean after each seed",
        "seeds": list(SEARCH_SEEDS), "sampler": "TPE (multivariate, constant liar, 16 startup trials), seed 1989 + worker",
        "pruner": "median (12 startup trials)", "budget": budget or {},
        "counts": _counts(study), "trials": len(trials),
        "first_trial_start": min(starts).isoformat(timespec="seconds") if starts else None,
        "last_trial_end": max(ends).isoformat(timespec="seconds") if ends else None,
        "trial_seconds_sum": round(sum((t.datetime_complete - t.datetime_start).total_seconds()
                                       for t in trials if t.datetime_complete and t.datetime_start), 1),
        "baseline_trial_0": row(baseline) if baseline else None,
        "best": row(complete[0]) if complete else None,
        "top10": [row(t) for t in complete[:10]],
        "importance_ped_anova": importance,
        "provenance": _provenance(),
    }
    write_text(out / "hunt.json", json.dumps(summary, indent=2, default=str) + "\n")
    if figures and complete:
        _figures(study, out)
    return summary


def _evaluator():
    """PED-ANOVA (Watanabe et al. 2023): how much each unknown's distribution in the best 10% of
    trials differs from all trials - without scikit-learn, which Optuna's fANOVA needs."""
    from optuna.importance import PedAnovaImportanceEvaluator
    return PedAnovaImportanceEvaluator(target_quantile=0.1)


def _figures(study, out: Path) -> None:
    """history.png (every trial's validation error and the best so far), importance.png
    (PED-ANOVA), slice.png (each unknown against the validation error). Own plots from the study
    rather than optuna.visualization.matplotlib's, whose outliers (diverged trials at 20-30%)
    flatten everything else and whose categorical labels overlap."""
    import random
    import warnings

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.trial import TrialState
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED and t.intermediate_values]
    top = 4.0                                   # % : the axis' upper limit; worse trials sit on it, marked
    clip = lambda v: min(v, top)                # noqa: E731

    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.scatter([t.number for t in pruned], [clip(t.intermediate_values[max(t.intermediate_values)]) for t in pruned],
               s=14, c="0.7", label="pruned (mean of the seeds run)")
    ax.scatter([t.number for t in done], [clip(t.value) for t in done], s=18, c="C0", label="complete (mean of 3 seeds)")
    over = [t for t in done + pruned if (t.value if t.value is not None else t.intermediate_values[max(t.intermediate_values)]) > top]
    ax.scatter([t.number for t in over], [top] * len(over), marker="^", s=30, c="C3", label=f"above {top:g}% (shown at {top:g}%)")
    best, xs, ys = float("inf"), [], []
    for t in sorted(done, key=lambda t: t.number):
        best = min(best, t.value)
        xs.append(t.number)
        ys.append(best)
    ax.step(xs, ys, where="post", c="C1", label="best so far")
    base = next((t.value for t in done if t.number == 0), None)
    if base is not None:
        ax.axhline(base, c="C2", ls="--", lw=1, label=f"trial 0 = p2's reading ({base:.2f}%)")
    ax.set_ylim(1.5, top + 0.15)
    ax.set_xlabel("trial")
    ax.set_ylabel("validation error (%)")
    ax.set_title("The hunt: each trial's validation error (last 1000 USPS training digits)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(out / "history.png", dpi=110)
    plt.close(fig)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = optuna.importance.get_param_importances(study, evaluator=_evaluator())
    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = list(imp)[::-1]
    ax.barh(names, [imp[n] for n in names], color="C0")
    for i, n in enumerate(names):
        ax.text(imp[n], i, f" {imp[n]:.2f}", va="center", fontsize=8)
    ax.set_xlabel("importance (PED-ANOVA, best 10% of the complete trials against all)")
    ax.set_title("Which unknowns decide the best trials")
    fig.tight_layout()
    fig.savefig(out / "importance.png", dpi=110)
    plt.close(fig)

    rnd = random.Random(0)
    fig, axes = plt.subplots(2, 4, figsize=(14, 6), sharey=True)
    for ax, (name, (kind, rng, what)) in zip(axes.flat, SPACE.items()):
        vals = [t.params[name] for t in done]
        y = [clip(t.value) for t in done]
        if kind == "categorical":
            pos = {v: i for i, v in enumerate(rng)}
            x = [pos[v] + rnd.uniform(-0.15, 0.15) for v in vals]
            ax.set_xticks(range(len(rng)))
            ax.set_xticklabels([str(v) for v in rng], rotation=30, fontsize=8)
        else:
            x = vals
            if kind == "log":
                ax.set_xscale("log")
        ax.scatter(x, y, s=12, c=[t.number for t in done], cmap="viridis")
        ax.set_title(name, fontsize=10)
        ax.set_ylim(1.5, top + 0.15)
    for ax in axes[:, 0]:
        ax.set_ylabel("validation error (%)")
    fig.suptitle(f"Each unknown against the validation error ({len(done)} complete trials; colour = trial "
                 f"number, purple early, yellow late; errors above {top:g}% drawn at {top:g}%)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "slice.png", dpi=90)
    plt.close(fig)


def hunt_command(*, out, data_root, trials, minutes, jobs, seeds, passes, confirm_top, confirm_seeds,
                 summary_only: bool = False, ablation: bool = False) -> int:
    try:
        import optuna  # noqa: F401
    except ImportError:
        print("lecun1989 hunt needs optuna: pip install 'optuna>=4' (or pip install -e .)")
        return 1
    out = Path(out)
    budget = {"trials": trials, "minutes_per_session": minutes, "jobs": jobs, "seeds_per_trial": len(seeds),
              "passes": passes}
    if not summary_only and confirm_top == 0:
        print(f"searching {len(SPACE)} unknowns ({', '.join(SPACE)}) on USPS validation digits; "
              f"{len(seeds)} seeds per trial, {passes} passes; budget {trials} trials or {minutes:g} min; "
              f"study {out / 'study.db'} (resumes)")
        search(out, data_root=data_root, trials=trials, minutes=minutes, jobs=jobs, seeds=seeds, passes=passes)
    if confirm_top and not summary_only:
        c = confirm(out, data_root=data_root, top=confirm_top, seeds=tuple(CONFIRM_SEEDS[:confirm_seeds]),
                    passes=passes, jobs=jobs)
        if ablation:
            ablate(out, c["candidates"][c["chosen"]]["params"], data_root=data_root,
                   seeds=tuple(CONFIRM_SEEDS[:confirm_seeds]), passes=passes, jobs=jobs)
    prev = json.loads((out / "hunt.json").read_text()).get("budget") if (out / "hunt.json").exists() else None
    s = write_summary(out, budget=budget if confirm_top == 0 and not summary_only else (prev or budget))
    if s["best"]:
        print(f"best trial #{s['best']['number']}: validation {s['best']['val_error_mean']:.2f}% "
              f"(misses per seed {s['best']['val_misses']}) {s['best']['params']}")
    if s["baseline_trial_0"]:
        print(f"baseline (p2's reading, trial 0): validation {s['baseline_trial_0']['val_error_mean']:.2f}%")
    print(f"wrote {out / 'hunt.json'}, {out / 'trials.csv'} and the figures")
    return 0
