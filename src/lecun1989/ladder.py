"""Many runs (steps x seeds): the executor, the run store, statistics over seeds, the tables.

A ladder is a list of steps (config.PRESETS: each a config, the passes to report and the
published figures), each trained over several seeds. Every run lives in its own folder

    OUT/runs/<run id>/   config.json, metrics.jsonl (one record per pass and split),
                         checkpoint.pt, status.json (done | diverged, with the pass)

named by `Config.hash()` (every field, the seed included; results.md indexes them by step and
seed). A run is trained into `OUT/runs/.tmp-<id>-<pid>` and renamed into place when it has
finished (train.train_into), so a folder under its final name is a finished run: re-running
checks it (store.check_run) and reuses it, or trains it again if it is damaged; an interruption
(Ctrl-C, a kill) loses only the runs that were in progress. Reports at intermediate passes read
metrics.jsonl; nothing is re-trained.

Several processes may work on one folder at once (two `lecun1989 ladder` commands with the
same --out): each run is claimed before it is trained (store.claim, an flock released when its
process ends), so each run is trained once; a process skips the runs another one holds, trains
the rest, then waits for those (or trains them, if their process stopped) before it writes the
table.

Runs go through an `Executor` (one method: `map(fn, jobs)` yielding results as they finish).
`LocalExecutor` uses one single-threaded process per core; a cluster backend would implement
the same method. Each run depends only on its config (init, dropout masks and shifts all come
from the seed), so the results do not depend on the executor or the number of workers.

Statistics are over seeds (stats.py): mean, sample sd (n - 1), min and max; the change of mean
test misses from the step a step builds on (`Preset.base`) gets a paired t 95% interval over the
seeds both steps ran (else Welch's), and a verdict Holm-corrected over the ladder's rows.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from . import store
from .config import LADDERS, PRESETS, Config, ConfigError, Preset
from .stats import StepStats, apply_holm, compare, mean_sd, pm

log = logging.getLogger(__name__)

FIRST_SEED = 1337               # the anchor's seed: ladders count up from it
TMP_PREFIX = store.TMP_PREFIX
STATUS_FILE = store.STATUS_FILE
is_finished = store.is_finished
clean_stale = store.clean_stale


# =============================================================================================
# Seeds
# =============================================================================================

def parse_seeds(text: str, first: int = FIRST_SEED) -> tuple[int, ...]:
    """`5` -> five seeds counting up from `first`; `1337,1340` (a comma anywhere) -> those seeds.

    ValueError with a one-line message for anything else."""
    text = text.strip()
    if "," in text:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            seeds = tuple(int(p) for p in parts)
        except ValueError:
            raise ValueError(f"seeds must be integers, got {text!r}") from None
        if not seeds:
            raise ValueError("no seed given")
        if any(not (0 <= s < 2**32) for s in seeds):
            raise ValueError(f"seeds must be in [0, 2**32), got {text!r}")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"a seed is repeated in {text!r}")
        return seeds
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"expected a count (5) or a list of seeds (1337,1338), got {text!r}") from None
    if count < 1:
        raise ValueError(f"the number of seeds must be at least 1, got {count}")
    if first + count > 2**32:
        raise ValueError(f"seeds {first}..{first + count - 1} go past 2**32")
    return tuple(range(first, first + count))


# =============================================================================================
# Statistics
# =============================================================================================

# =============================================================================================
# The executor
# =============================================================================================

class Executor(Protocol):
    def map(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        """Apply `fn` to every job, yielding the results as they finish (in any order).
        `fn` must be a module-level function and the jobs picklable."""
        ...


@contextlib.contextmanager
def _single_threaded():
    """torch computes on one thread inside (restored after): the in-process executor's runs
    compute exactly as a worker's do."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _watch_parent(parent: int) -> None:
    # A worker whose parent was killed outright (SIGKILL) would otherwise wait for work forever.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _worker_init(parent: int) -> None:
    """Each worker: one torch thread (the numba engine is single-threaded anyway); Ctrl-C goes
    to the parent, which stops the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch
    torch.set_num_threads(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


class LocalExecutor:
    """One process per worker on this machine (multiprocessing 'spawn': every worker starts a
    fresh interpreter, so neither torch's thread pool nor numba's state is inherited through a
    fork). With one worker, or one job, the jobs run in this process, one after another."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    def map(self, fn, jobs):
        jobs = list(jobs)
        if self.workers == 1 or len(jobs) <= 1:
            with _single_threaded():
                for job in jobs:
                    yield fn(job)
            return
        import multiprocessing as mp
        pool = mp.get_context("spawn").Pool(min(self.workers, len(jobs)), initializer=_worker_init,
                                            initargs=(os.getpid(),))
        finished = False
        try:
            for result in pool.imap_unordered(fn, jobs, chunksize=1):
                yield result
            finished = True
        finally:
            if finished:
                pool.close()
            else:           # interrupted, or the consumer stopped early: stop the workers now
                pool.terminate()
            pool.join()


# =============================================================================================
# The run store
# =============================================================================================

@dataclass(frozen=True)
class RunJob:
    config: Config
    dir: str                    # the finished run's folder
    engine: str = "fast"
    data_root: str | None = None


def run_id(cfg: Config, engine: str = "fast") -> str:
    """A run's folder name: the config hash (seed included); other engines than the default
    get a suffix, since their float arithmetic differs."""
    return cfg.hash() if engine == "fast" else f"{cfg.hash()}-{engine}"


def read_run(run_dir: str | os.PathLike) -> tuple[dict, list[dict]]:
    """(status, per-pass records) of a finished run (store.read_run); CorruptFileError naming a
    damaged file, also for a missing status.json."""
    run = store.read_run(run_dir)
    if run.status is None:
        raise store.CorruptFileError(f"{Path(run_dir) / STATUS_FILE}: missing; {store.RUN_FIX}")
    return run.status, run.records


_DATA: dict[tuple, Any] = {}


def _data_for(cfg: Config, root: str | None):
    """Data loaded once per process (per data set, root and MNIST subset size)."""
    from .data import data_key, load_data
    key = (*data_key(cfg), root)
    if key not in _DATA:
        _DATA[key] = load_data(cfg, root)
    return _DATA[key]


def _error_text(e: BaseException) -> str:
    """A failed run's reason: the message of a one-line error, else the exception's type too."""
    from .data import DataError
    if isinstance(e, (DataError, store.OutputError, store.CorruptFileError, ConfigError)):
        return str(e)
    return f"{type(e).__name__}: {e}"


def train_job(job: RunJob) -> dict:
    """Claim one run, train it into a temporary folder, rename it into place. Returns an outcome:
    {id, dir, seed, status (done | diverged | failed | busy), diverged_at, seconds, train, test,
    error}. `busy`: another process holds the run's claim (it is training it). A run finished
    meanwhile by another process is read back (`reused`); a damaged one is trained again. An
    exception becomes a `failed` outcome (and no folder), so it does not stop other runs."""
    final = Path(job.dir)
    out = {"id": final.name, "dir": str(final), "seed": job.config.seed, "diverged_at": None,
           "train": None, "test": None, "error": None}
    try:
        with store.claim(final) as mine:
            if not mine:
                return {**out, "status": "busy", "seconds": 0.0}
            if final.exists():
                if store.check_run(final, job.config) is None:
                    return {**_finished_outcome(final), "by_other": True}
                store.discard(final)
            data = _data_for(job.config, job.data_root)
            from .train import train_into
            res = train_into(job.config, final, engine=job.engine, data=data, progress=False)
        status = "diverged" if res.diverged_at is not None else "done"
        out.update(status=status, diverged_at=res.diverged_at, seconds=res.seconds,
                   train=res.final("train"), test=res.final("test"))
    except Exception as e:  # noqa: BLE001 - reported as a failed run, the others go on
        out.update(status="failed", seconds=0.0, error=_error_text(e))
    return out


def _finished_outcome(run_dir: Path) -> dict:
    status, records = read_run(run_dir)
    last = {s: [r for r in records if r["split"] == s][-1] for s in ("train", "test")}
    return {"id": run_dir.name, "dir": str(run_dir), "seed": status["seed"], "status": status["status"],
            "diverged_at": status.get("diverged_at"), "seconds": status.get("seconds", 0.0),
            "train": last["train"], "test": last["test"], "error": None, "reused": True}


class _TermAsInterrupt:
    """While active (main thread only), SIGTERM raises KeyboardInterrupt, so that `kill` stops
    the workers and cleans up like Ctrl-C does."""

    def __enter__(self):
        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGTERM, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)
        return False


def train_digits(cfg: Config) -> int:
    """The number of training digits a run of `cfg` goes through per pass."""
    from .datasets import get
    return cfg.train_size or get(cfg.data).train_size


def _cost(cfg: Config) -> int:
    return store.expected_passes(cfg) * train_digits(cfg)


class _Watch:
    """Progress of the runs to train, in digit-passes: finished runs count whole, runs in
    training count the passes in their temporary folder's metrics.jsonl (one record per pass and
    split, rewritten atomically after each pass), whichever process trains them. A thread calls
    on_progress(done, total, runs_finished, runs) every `every` seconds."""

    def __init__(self, todo: list[RunJob], on_progress, every: float = 1.0) -> None:
        self.todo, self.on_progress, self.every = todo, on_progress, every
        self.total = sum(_cost(j.config) for j in todo)
        self.finished: set[str] = set()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = None

    def __enter__(self):
        if self.on_progress is not None and self.todo:
            self.report()
            self.thread = threading.Thread(target=self._loop, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        return False

    def done(self, job_dir: str) -> None:
        self.finished.add(job_dir)
        if self.on_progress is not None:
            self.report()

    def _loop(self) -> None:
        while not self.stop.wait(self.every):
            self.report()

    def _measure(self) -> float:
        done = 0.0
        listings: dict[Path, list[str]] = {}
        for j in self.todo:
            if j.dir in self.finished:
                done += _cost(j.config)
                continue
            final = Path(j.dir)
            if final.parent not in listings:
                try:
                    listings[final.parent] = os.listdir(final.parent)
                except OSError:
                    listings[final.parent] = []
            passes = 0
            for name in listings[final.parent]:
                if name.startswith(f"{store.TMP_PREFIX}{final.name}-"):
                    try:
                        text = (final.parent / name / "metrics.jsonl").read_text()
                    except OSError:
                        continue
                    passes = max(passes, text.count("\n") // 2)
            done += min(passes, store.expected_passes(j.config)) * train_digits(j.config)
        return done

    def report(self) -> None:
        with self.lock:
            self.on_progress(self._measure(), self.total, len(self.finished), len(self.todo))


def _check_finished(jobs: list[RunJob]) -> tuple[dict[str, dict], list[RunJob], list[str]]:
    """(outcomes of the finished runs, the jobs to train, one line per damaged run): a run
    folder is reused only if it checks out (store.check_run); a damaged one is trained again."""
    by_dir: dict[str, dict] = {}
    todo: list[RunJob] = []
    notes: list[str] = []
    seen = set()
    for job in jobs:
        d = Path(job.dir)
        if str(d) in seen:
            continue
        seen.add(str(d))
        try:
            d.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise store.OutputError(store.os_error_line(e, e.filename or d.parent)) from None
        store.clean_stale(d.parent)
        if d.exists() or d.is_symlink():
            problem = store.check_run(d, job.config)
            if problem is None:
                try:
                    by_dir[str(d)] = _finished_outcome(d)
                    continue
                except (store.CorruptFileError, OSError, KeyError, IndexError) as e:
                    problem = str(e)
            notes.append(f"{d.parent.name}/{d.name}: damaged ({problem}): training it again")
        todo.append(job)
    return by_dir, todo, notes


def _wait_for_claims(jobs: list[RunJob], poll: float) -> list[RunJob]:
    """Block until some of `jobs` can be claimed (their other process finished or is gone)."""
    while True:
        free = []
        for j in jobs:
            with store.claim(j.dir) as got:
                if got:
                    free.append(j)
        if free:
            return free
        time.sleep(poll)


def run_many(jobs: list[RunJob], *, workers: int | None = None, executor: Executor | None = None,
             on_done: Callable[[dict, int, int], None] | None = None,
             on_line: Callable[[str], None] | None = None,
             on_plan: Callable[[int, list[RunJob]], None] | None = None,
             on_progress: Callable[[float, float, int, int], None] | None = None,
             poll: float = 0.5) -> list[dict]:
    """Train every job not yet finished (in parallel), reusing finished ones.

    Returns one outcome per job, in the order given (finished ones read from their folders,
    marked `reused`). A finished folder is checked first; a damaged one is trained again (said
    through on_line). on_plan(n_finished, todo) is called once the plan is known;
    on_done(outcome, k, total) as each run of the plan finishes, with k of total done;
    on_progress(done, total, k, n) about once a second, in digit-passes (see _Watch).

    Runs that another process is training (it holds their claim, see store.claim) are left to
    it: this call trains the others, then waits for those and reads them back, or trains them
    itself if that process stopped without finishing them. Results do not depend on `workers`
    or on the number of processes: each run is a function of its config only and computes on
    one thread.
    """
    say = on_line or (lambda line: log.info(line))
    by_dir, todo, notes = _check_finished(jobs)
    if on_plan is not None:
        on_plan(len(by_dir), todo)
    for line in notes:
        say(line)
    # Longest runs first: the last runs to start are short, so the workers finish together.
    todo.sort(key=lambda j: -_cost(j.config))
    ex = executor or LocalExecutor(workers)
    k = 0
    try:
        with _TermAsInterrupt(), _Watch(todo, on_progress) as watch:
            pending, waiting = list(todo), False
            while True:
                for outcome in ex.map(train_job, pending):
                    if outcome["status"] == "busy":
                        continue
                    k += 1
                    by_dir[outcome["dir"]] = outcome
                    watch.done(outcome["dir"])
                    if on_done is not None:
                        on_done(outcome, k, len(todo))
                busy = [j for j in todo if str(j.dir) not in by_dir]
                if not busy:
                    break
                if not waiting:
                    pids = sorted({p for p in (store.claim_holder(j.dir) for j in busy) if p is not None})
                    say(f"{len(busy)} run(s) claimed by another process working in this folder"
                        + (f" (pid {', '.join(map(str, pids))})" if pids else "")
                        + ": waiting for them")
                    waiting = True
                pending = _wait_for_claims(busy, poll)
    finally:
        for d in {str(Path(j.dir).parent) for j in todo}:
            store.clean_stale(d)
    return [by_dir.get(str(j.dir), {"id": Path(j.dir).name, "dir": str(j.dir), "seed": j.config.seed,
                                    "status": "failed", "error": "not run"}) for j in jobs]


# =============================================================================================
# Ladders: plan, run, summarise
# =============================================================================================

def ladder_steps(name: str, steps: Iterable[str] | None = None) -> list[Preset]:
    """The presets of ladder `name` (one of LADDERS, or all), optionally only `steps`
    (in the ladder's order). ConfigError for unknown names."""
    if name == "all":
        names = [s for ladder in LADDERS.values() for s in ladder]
    elif name in LADDERS:
        names = list(LADDERS[name])
    else:
        raise ConfigError(f"unknown ladder {name!r} (known: {', '.join(LADDERS)}, all)")
    if steps:
        wanted = list(steps)
        for s in wanted:
            if s not in names:
                raise ConfigError(f"step {s!r} is not in ladder {name!r} (its steps: {', '.join(names)})")
        names = [s for s in names if s in wanted]
    return [PRESETS[s] for s in names]


def apply_override(p: Preset, override: dict | None) -> Preset:
    """A preset with some config fields replaced (tests and quick looks: e.g. train_size=200,
    passes=2); report passes beyond the new pass count are dropped."""
    if not override:
        return p
    cfg = p.config.with_overrides(**override)
    rp = tuple(x for x in p.report_passes if x < cfg.last_pass) + (cfg.last_pass,)
    return Preset(p.name, p.ladder, p.change, p.why, cfg, rp, p.published, p.base)


def row_label(p: Preset, pass_number: int) -> str:
    return p.name if len(p.report_passes) == 1 else f"{p.name}@{pass_number}"


def _placements(p: Preset, rp: int, misses: list[int], test_n: int | None) -> list:
    """Where each published single run of this step and pass falls among our seeds."""
    from .published import OTHER_RUNS
    from .stats import place, true_misses
    if len(misses) < 2:
        return []
    out = []
    pub = p.published_at(rp)
    if pub and test_n:
        pct = float(str(pub["test"]).split("%")[0])
        true = true_misses(pct, test_n)
        # a count printed as int(err * N) is the true one or one below it; any other mismatch
        # (the paper: 102 misses as 5.00%, on its own rounding) keeps the count as published
        if pub.get("test_misses") is not None and true - pub["test_misses"] not in (0, 1):
            true = pub["test_misses"]
        note = pub.get("note", "")
        out.append(place(misses, true, pub["source"] + " (published)", pub.get("test_misses"), note))
    for step, at, source, true, printed, note in OTHER_RUNS:
        if step == p.name and at == rp:
            out.append(place(misses, true, source, printed, note))
    return out


def _readable_run(d: Path) -> tuple[dict | None, list[dict]]:
    """(status, records) of a finished run, or (None, []) if it is missing or cannot be read."""
    if not is_finished(d):
        return None, []
    try:
        status, records = read_run(d)
    except (store.CorruptFileError, OSError):
        return None, []
    return (status, records) if isinstance(status, dict) else (None, [])


def summarise(steps: list[Preset], seeds: tuple[int, ...], out: Path, engine: str = "fast") -> list[StepStats]:
    """One row per step and reported pass, from the run folders (reads metrics.jsonl).

    Besides errors and misses, a row has the loss of each split (`*_loss_*`; with the tanh head
    that is the MSE, mean over the 10 outputs of (target - output)^2 with +-1 targets), the share
    of test digits rejected for 1% error on the rest (metrics.rejection_at), the change against
    its base (stats.compare, Holm-corrected over the rows), where the published runs fall among
    the seeds, and the step's training and inference cost."""
    from .model import counts
    macs = counts()["macs"]
    rows: list[StepStats] = []
    misses_by_label: dict[str, dict[int, int]] = {}
    last_label: dict[str, str] = {}
    for p in steps:
        prev_label = last_label.get(p.base) if p.base else None
        for rp in p.report_passes:
            label = row_label(p, rp)
            runs, tr, te, miss, diverged = [], [], [], {}, []
            trl, tel, rej, secs = [], [], [], []
            train_n = test_n = None
            for seed in seeds:
                cfg = p.config.with_overrides(seed=seed)
                rid = run_id(cfg, engine)
                d = out / "runs" / rid
                entry = {"seed": seed, "dir": os.path.relpath(d, out), "status": "missing",
                         "train_error": None, "test_error": None, "test_misses": None,
                         "train_loss": None, "test_loss": None, "test_reject_1pct": None}
                status, records = _readable_run(d)
                rec = {r.get("split"): r for r in records if r.get("pass") == rp}
                if status is not None and status.get("diverged_at") is not None and status["diverged_at"] <= rp:
                    at = status["diverged_at"]
                    entry.update(status="diverged", diverged_at=at)
                    diverged.append(at)
                elif status is not None and not {"train", "test"} <= set(rec):
                    entry.update(status="damaged")
                elif status is not None:
                    secs.append(status.get("seconds"))
                    entry.update(status="done", train_error=rec["train"]["error"],
                                 test_error=rec["test"]["error"], test_misses=rec["test"]["misses"],
                                 train_loss=rec["train"]["loss"], test_loss=rec["test"]["loss"],
                                 test_reject_1pct=rec["test"].get("reject_1pct"))
                    trl.append(rec["train"]["loss"])
                    tel.append(rec["test"]["loss"])
                    rej.append(rec["test"].get("reject_1pct"))
                    tr.append(rec["train"]["error"])
                    te.append(rec["test"]["error"])
                    miss[seed] = rec["test"]["misses"]
                    train_n, test_n = rec["train"]["n"], rec["test"]["n"]
                runs.append(entry)
            trm, trs = mean_sd(tr)
            tem, tes = mean_sd(te)
            mm, ms = mean_sd(list(miss.values()))
            trlm, trls = mean_sd(trl)
            telm, tels = mean_sd(tel)
            rejm, rejs = mean_sd(rej)
            delta = compare(misses_by_label[prev_label], miss, prev_label) if prev_label in misses_by_label else None
            rows.append(StepStats(
                step=label, preset=p.name, change=p.change, why=p.why, passes=p.config.passes,
                report_pass=rp, n=len(miss), train_digits=train_n, test_digits=test_n, misses=miss,
                train_error_mean=trm, train_error_sd=trs, test_error_mean=tem, test_error_sd=tes,
                test_misses_mean=mm, test_misses_sd=ms,
                test_misses_min=min(miss.values()) if miss else None,
                test_misses_max=max(miss.values()) if miss else None,
                loss="mse" if p.config.head == "tanh" else "cross-entropy",
                train_loss_mean=trlm, train_loss_sd=trls, test_loss_mean=telm, test_loss_sd=tels,
                test_reject_1pct_mean=rejm, test_reject_1pct_sd=rejs,
                test_reject_1pct_n=sum(v is not None for v in rej),
                published=p.published_at(rp), base=prev_label, delta=delta,
                placements=_placements(p, rp, list(miss.values()), test_n),
                train_digit_passes=rp * (train_n or 0),
                run_seconds_mean=mean_sd(secs)[0], macs_per_digit=macs,
                diverged=len(diverged), diverged_at=diverged,
                missing=sum(r["status"] in ("missing", "damaged") for r in runs),
                config=p.config.to_dict(), config_hash=p.config.hash(), runs=runs))
            misses_by_label[label] = miss
            prev_label = label
        last_label[p.name] = prev_label
    apply_holm(rows)
    return rows


def _overrides(cfg: Config) -> str:
    base = Config()
    diff = [f"{k}={v}" for k, v in cfg.to_dict().items() if k != "seed" and getattr(base, k) != v]
    return " ".join(diff) or "(the defaults)"


def _published_extra(rows: list[StepStats]) -> tuple[bool, bool]:
    """Whether any row has published MSEs / a published rejection (then those columns appear)."""
    pubs = [r.published for r in rows if r.published]
    return (any("train_mse" in p or "test_mse" in p for p in pubs), any("reject_1pct" in p for p in pubs))


def _published_number(p: dict, key: str, fmt: str) -> str:
    return format(p[key], fmt) if p and p.get(key) is not None else "-"


def _typed(rows: list) -> list[StepStats]:
    return [r if isinstance(r, StepStats) else StepStats.from_json(r) for r in rows]


def _n_cell(r: StepStats) -> str:
    n = str(r.n)
    if r.diverged:
        n += f" ({r.diverged} diverged at pass {','.join(map(str, r.diverged_at))})"
    if r.missing:
        n += f" ({r.missing} missing)"
    return n


def _misses_cell(r: StepStats) -> str:
    if r.test_misses_mean is None:
        return "-"
    return f"{r.test_misses_mean:.1f} [{r.test_misses_min}-{r.test_misses_max}]"


def _passes_cell(r: StepStats) -> str:
    return str(r.passes) if r.report_pass == r.passes else f"{r.report_pass} of {r.passes}"


def _delta_cell(r: StepStats) -> str:
    d = r.delta
    if d is None:
        return "-"
    return f"{d.diff:+.1f} [{d.low:+.1f}, {d.high:+.1f}] vs {d.base} ({d.test})"


def table_lines(rows: list) -> list[str]:
    """The markdown table of a ladder. Every figure of ours is mean ± sd over seeds; published
    figures stand in the column after ours (published MSE and rejection columns appear only
    when some step has such figures: the paper ladder)."""
    rows = _typed(rows)
    has_pub_mse, has_pub_rejection = _published_extra(rows)
    head = ["step", "change", "passes", "n", "train error", "test error", "test misses [min-max]",
            "published train / test", "train MSE", "test MSE"]
    head += ["published MSE train / test"] if has_pub_mse else []
    head += ["test rejected for 1% error"]
    head += ["published rejection"] if has_pub_rejection else []
    head += ["Δ test misses vs base [95% CI] (test)", "verdict (Holm, 5%)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        pub = r.published
        published_cell = f"{pub['train']} / {pub['test']}" + ("*" if pub.get("note") else "") if pub else "-"
        mse = r.loss == "mse"
        cells = [r.step, r.change, _passes_cell(r), _n_cell(r),
                 pm(r.train_error_mean, r.train_error_sd, pct=True),
                 pm(r.test_error_mean, r.test_error_sd, pct=True), _misses_cell(r), published_cell,
                 pm(r.train_loss_mean, r.train_loss_sd, sci=True) if mse else "-",
                 pm(r.test_loss_mean, r.test_loss_sd, sci=True) if mse else "-"]
        if has_pub_mse:
            cells.append(f"{_published_number(pub, 'train_mse', '.1e')} / {_published_number(pub, 'test_mse', '.1e')}"
                         if pub and ("train_mse" in pub or "test_mse" in pub) else "-")
        rej = pm(r.test_reject_1pct_mean, r.test_reject_1pct_sd, pct=True)
        if r.test_reject_1pct_mean is not None and r.test_reject_1pct_n < r.n:
            rej += f" (n = {r.test_reject_1pct_n})"
        cells.append(rej)
        if has_pub_rejection:
            cells.append(f"{100 * pub['reject_1pct']:.1f}%" if pub and pub.get("reject_1pct") is not None else "-")
        cells += [_delta_cell(r), r.delta.verdict() if r.delta else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def verdict_lines(rows: list) -> list[str]:
    """The answer per step: its change against its base in words, how the comparison was made,
    where the published runs fall among the seeds, and what the step costs."""
    rows = _typed(rows)
    head = ["step", "n", "test misses mean ± sd [min-max]", "Δ vs base [95% CI]", "test, pairing",
            "p (Holm)", "verdict", "published runs among our seeds (true misses, percentile)",
            "training: passes x digits, s per run", "inference: multiply-adds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        d = r.delta
        misses = "-" if r.test_misses_mean is None else (
            f"{pm(r.test_misses_mean, r.test_misses_sd, digits=1)} [{r.test_misses_min}-{r.test_misses_max}]")
        if d is None:
            dcell = test = p = verdict = "-"
        else:
            dcell = f"{d.diff:+.1f} [{d.low:+.1f}, {d.high:+.1f}] vs {d.base}"
            test = d.test
            if d.test == "paired t" and d.corr is not None and d.se_ratio is not None:
                test += f", r = {d.corr:+.2f}, se x{d.se_ratio:.2f}"
            if d.median_diff is not None and d.p_rank is not None:
                test += f"; median {d.median_diff:+.1f}, rank p {d.p_rank:.2g}"
            p = f"{d.p_holm:.2g}" if d.p_holm is not None else f"{d.p:.2g}"
            verdict = d.verdict()
        places = "; ".join(pl.text() for pl in r.placements) or "-"
        secs = f"{r.run_seconds_mean:.1f} s" if r.run_seconds_mean is not None else "-"
        cost = f"{r.report_pass} x {r.train_digits or 0:,} = {r.train_digit_passes:,}, {secs}"
        lines.append("| " + " | ".join([r.step, _n_cell(r), misses, dcell, test, p, verdict, places, cost,
                                        f"{r.macs_per_digit:,}"]) + " |")
    return lines


def compact_table_lines(rows: list, seeds: int) -> list[str]:
    """The terminal's table: step, seeds counted, test misses mean [min-max], the change from
    the base step with its 95% interval, and the verdict; columns padded to fit the terminal.
    (results.md has the full table.) Then one line per step with diverged or missing runs."""
    rows = _typed(rows)
    head = ["step", "n", "test misses", "Δ vs base [95% CI]", "verdict"]
    body = []
    notes = []
    for r in rows:
        n = str(r.n) if r.n == seeds else f"{r.n}/{seeds}"
        d = r.delta
        delta = "-" if d is None else f"{d.diff:+.1f} [{d.low:+.1f}, {d.high:+.1f}] vs {d.base}"
        short = "-" if d is None else d.verdict().removesuffix(" misses").replace("no effect larger than", "none >")
        body.append([r.step, n, _misses_cell(r), delta, short])
        why = []
        if r.diverged:
            why.append(f"{r.diverged} diverged (at pass {', '.join(map(str, r.diverged_at))})")
        if r.missing:
            why.append(f"{r.missing} missing")
        if why:
            notes.append(f"{r.step}: of {seeds} seeds, " + ", ".join(why))
    widths = [max(len(c[i]) for c in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i in (0, 3, 4) else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    return [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body), *notes]


def run_index_lines(rows: list[dict]) -> list[str]:
    """results.md's index of the run folders: step, seed, status, test misses, a link."""
    out = ["| step | seed | status | test misses | run folder |", "|---|---|---|---|---|"]
    seen = set()
    for r in reversed(rows):                 # a multi-pass step: its runs once, at the last pass
        if r["preset"] in seen:
            continue
        seen.add(r["preset"])
        for run in reversed(r["runs"]):
            misses = "-" if run.get("test_misses") is None else str(run["test_misses"])
            status = run["status"] + (f" at pass {run['diverged_at']}" if run.get("diverged_at") else "")
            out.insert(2, f"| {r['preset']} | {run['seed']} | {status} | {misses} | "
                          f"[{run['dir']}]({run['dir']}/) |")
    return out


def notes_lines(rows: list, seeds: tuple[int, ...]) -> list[str]:
    from .model import counts
    rows = _typed(rows)
    c = counts()
    digits = sorted({(r.train_digits, r.test_digits) for r in rows if r.train_digits})
    lines = [
        f"Every step has the same {c['parameters']:,} parameters and {c['macs']:,} multiply-adds per "
        "digit (model.counts()): none of these changes costs inference time.",
        f"n = seeds counted (of {len(seeds)}: {_seed_text(seeds)}); errors are mean ± sample sd "
        "over seeds; digits (train/test): " + ", ".join(f"{a}/{b}" for a, b in digits) + ".",
        "Δ: change of mean test misses from the step this one builds on (base), with a 95% t interval: "
        "paired over seeds when both steps ran the same seeds (a seed gives both the same initial "
        "weights; r = the pairs' correlation, se x = the paired standard error over the unpaired one), "
        "Welch's unpaired interval otherwise; beside it the median change and a rank test (Wilcoxon "
        "signed-rank, or Mann-Whitney), which a few failed seeds do not sway. Verdict: the change ± the interval's half-width when the "
        "test of no change is rejected after Holm's correction over the rows of this table (5% "
        "family-wise), else 'no effect larger than X misses' with X the interval's end farthest from 0.",
        "Published runs: true misses (from the printed error rate; the anchor's scripts print int(err * N), "
        "one below it at times), and the share of our seeds with fewer misses (ties count half): below "
        "the 5th percentile 'lucky', above the 95th 'unlucky', else 'typical'.",
        "MSE: mean over the 10 outputs of (target - output)^2 with the run's targets (±1 unless Config.target says otherwise), over the split (the tanh "
        "head's loss; '-' for the linear head, whose cross-entropy is in results.json as *_loss_*). "
        "Rejected for 1% error: the smallest share of test digits rejected, lowest margin between "
        "the two most active outputs first, so that the error on the rest is at most 1% (the 1989 "
        "paper's measure).",
    ]
    if any(r.published.get("source") == "paper" for r in rows):
        lines.append("Published for p*: the 1989 paper's own figures after 23 passes, on its zip-code "
                     "digits (7291 train / 2007 test): the same figures beside every step.")
    if any(r.published.get("note") for r in rows):
        lines.append("(*) published misses as given; the published train figure is on a different split size.")
    return lines


def _seed_text(seeds) -> str:
    seeds = list(seeds)
    if len(seeds) > 3 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def results_markdown(res: dict) -> str:
    prov = res["provenance"]
    out = [f"# Ladder `{res['ladder']}`", "",
           f"- machine: {prov['machine']}",
           "- versions: " + ", ".join(f"{k} {v}" for k, v in prov.items() if k != "machine"),
           f"- engine: {res['engine']}; seeds: {len(res['seeds'])} ({_seed_text(res['seeds'])}); "
           f"wall time of the last invocation that trained runs {res['wall_s']:.1f} s; this invocation "
           f"{res.get('invocation_wall_s', res['wall_s']):.1f} s, runs trained {res['runs_trained']}, "
           f"reused {res['runs_reused']}; summed run time {res['run_seconds_total']:.1f} s", ""]
    out += ["## Verdicts", ""] + verdict_lines(res["steps"]) + ["", "## Every figure", ""]
    out += table_lines(res["steps"]) + [""]
    out += [f"- {line}" for line in notes_lines(res["steps"], tuple(res["seeds"]))] + [""]
    out += ["| step | passes | config hash (seed 1337) | config vs the 1989 defaults |", "|---|---|---|---|"]
    seen = set()
    for r in res["steps"]:
        if r["preset"] in seen:
            continue
        seen.add(r["preset"])
        out.append(f"| {r['preset']} | {r['passes']} | {r['config_hash']} | {_overrides(Config.from_dict(r['config']))} |")
    out += ["", "## Runs", "", "One folder per run, named by its config hash (seed included); a step "
            "that shares a config with another (p0 and a0) shares its runs.", ""]
    out += run_index_lines(res["steps"])
    return "\n".join(out) + "\n"


CSV_FIELDS = ("step", "change", "passes", "report_pass", "n", "diverged", "missing", "train_digits",
              "test_digits", "train_error_mean", "train_error_sd", "test_error_mean", "test_error_sd",
              "test_misses_mean", "test_misses_min", "test_misses_max", "published_train",
              "published_test", "published_test_misses", "loss", "train_loss_mean", "train_loss_sd",
              "test_loss_mean", "test_loss_sd", "train_mse_mean", "train_mse_sd", "test_mse_mean",
              "test_mse_sd", "published_train_mse", "published_test_mse", "test_reject_1pct_mean",
              "test_reject_1pct_sd", "published_reject_1pct", "base", "delta_misses", "delta_ci95_low",
              "delta_ci95_high", "delta_test", "delta_p_holm", "larger_than_noise", "verdict", "test_misses_sd",
              "train_digit_passes", "run_seconds_mean", "macs_per_digit", "config_hash")


def results_csv(res: dict) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in res["steps"]:
        pub = r["published"]
        ci = r["delta_ci95"] or (None, None)
        w.writerow({**{k: r.get(k) for k in CSV_FIELDS if k in r},
                    "published_train": pub.get("train"), "published_test": pub.get("test"),
                    "published_test_misses": pub.get("test_misses"),
                    "published_train_mse": pub.get("train_mse"), "published_test_mse": pub.get("test_mse"),
                    "published_reject_1pct": pub.get("reject_1pct"),
                    "delta_ci95_low": ci[0], "delta_ci95_high": ci[1]})
    return buf.getvalue()


def write_results(out: Path, res: dict) -> None:
    store.write_json(out / "results.json", res)
    store.write_text(out / "results.md", results_markdown(res))
    store.write_text(out / "results.csv", results_csv(res))


def _training_wall(out: Path) -> float | None:
    """wall_s of the results.json already in `out` (None if there is none, or it is unreadable)."""
    try:
        v = store.read_json(out / "results.json").get("wall_s")
    except (FileNotFoundError, store.CorruptFileError, AttributeError):
        return None
    return float(v) if isinstance(v, (int, float)) else None


def _check_data(todo: list[RunJob]) -> None:
    """Before any worker starts: every downloadable data set the runs need is there (fetched
    once here, not by each worker) and checks out; else one DataError."""
    from . import data, datasets
    needed = {(j.config.data, j.data_root) for j in todo if datasets.get(j.config.data).downloaded}
    for name, root in sorted(needed, key=str):
        data.fetch(name, root)


def progress_line(outcome: dict, k: int, total: int, step: str) -> str:
    """One fixed-column line per finished run."""
    if outcome["status"] == "failed":
        what = f"FAILED: {outcome['error']}"
    else:
        te = outcome["test"]
        what = f"test {100 * te['error']:5.2f}% ({te['misses']:4d})"
        if outcome["status"] == "diverged":
            what += f"  diverged at pass {outcome['diverged_at']}"
        if outcome.get("by_other"):
            what += "  (trained by another process)"
    return f"[{k:>{len(str(total))}d}/{total}] {step:<5s} seed {outcome['seed']:<10d} {what}  {outcome['seconds']:7.1f} s"


# Training digits per second and process, for the estimate before a ladder starts when no run of
# its folder has finished yet: measured on an AMD EPYC / Intel Xeon core of this project's
# machines, evaluation of both splits after every pass included (a0 and a4 runs of
# docs/ladder.md: 40,000-48,000 for the fast engine; the reference loop about 600).
DIGITS_PER_SECOND = {"fast": 40_000.0, "torch": 600.0}


def estimate_seconds(todo: list[RunJob], engine: str, workers: int, out: Path) -> float:
    """Wall seconds to train `todo` on `workers` processes: the digit-passes to train divided by
    the rate of this folder's finished runs of the same engine (else DIGITS_PER_SECOND)."""
    done_digits = done_secs = 0.0
    for d in (Path(out) / "runs").glob("*"):
        st = d / STATUS_FILE
        if not st.is_file():
            continue
        try:
            status = json.loads(st.read_text())
            cfg = Config.from_dict({k: v for k, v in json.loads((d / "config.json").read_text()).items()
                                    if k in Config.__dataclass_fields__})
        except (OSError, ValueError, ConfigError):
            continue
        if status.get("engine") != engine or not status.get("seconds"):
            continue
        done_digits += _cost(cfg)
        done_secs += float(status["seconds"])
    rate = done_digits / done_secs if done_secs > 0 else DIGITS_PER_SECOND.get(engine, DIGITS_PER_SECOND["torch"])
    return sum(_cost(j.config) for j in todo) / rate / max(1, workers)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def run_steps(steps: list[Preset], seeds: tuple[int, ...], out: str | os.PathLike, *,
              ladder: str = "custom", engine: str = "fast", workers: int | None = None,
              data_root: str | None = None, executor: Executor | None = None,
              on_line: Callable[[str], None] | None = None,
              on_progress: Callable[[float, float, int, int], None] | None = None) -> dict:
    """Train every step x seed not yet in `out`, then summarise and write results.{json,md,csv}.

    on_line receives the progress lines (one per finished run); on_progress the share of the
    work done, about once a second (see run_many). Returns the results dict (the content of
    results.json). KeyboardInterrupt propagates; finished runs are kept.
    """
    t0 = time.perf_counter()
    out = Path(out)
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise store.OutputError(store.os_error_line(e, e.filename or out / "runs")) from None
    step_of: dict[str, str] = {}
    jobs = []
    for p in steps:
        for seed in seeds:
            cfg = p.config.with_overrides(seed=seed)
            d = out / "runs" / run_id(cfg, engine)
            step_of.setdefault(str(d), p.name)
            jobs.append(RunJob(cfg, str(d), engine, None if data_root is None else str(data_root)))
    say = on_line or (lambda line: log.info(line))
    w = max(1, workers or os.cpu_count() or 1)
    n_runs = len(step_of)
    shared = f", {len(jobs) - n_runs} shared between steps" if len(jobs) > n_runs else ""

    def plan(n_done: int, todo: list[RunJob]) -> None:
        say(f"{n_runs} runs ({len(steps)} step{'s' * (len(steps) > 1)} x {len(seeds)} seed{'s' * (len(seeds) > 1)}"
            f"{shared}): {n_done} already done in "
            f"{out}, {len(todo)} to train on {min(w, max(1, len(todo)))} process(es), engine {engine}"
            + (f"; estimated {_duration(estimate_seconds(todo, engine, min(w, len(todo)), out))}" if todo else ""))
        if todo:
            _check_data(todo)
            if engine == "fast":
                from .fast import ensure_compiled
                ensure_compiled()       # compile once, before the workers start (they load the cache)

    outcomes = run_many(jobs, workers=workers, executor=executor, on_line=say, on_plan=plan,
                        on_progress=on_progress,
                        on_done=lambda o, k, total: say(progress_line(o, k, total, step_of[o["dir"]])))
    rows = summarise(steps, seeds, out, engine)
    trained = [o for o in outcomes if o["status"] != "failed" and not o.get("reused")]
    invocation = round(time.perf_counter() - t0, 3)
    before = _training_wall(out)
    res = {
        "ladder": ladder, "engine": engine, "provenance": store.provenance(), "seeds": list(seeds),
        "wall_s": invocation if trained or before is None else before,
        "invocation_wall_s": invocation,
        "runs_trained": len(trained), "runs_reused": sum(bool(o.get("reused")) for o in outcomes),
        "runs_failed": [{"dir": os.path.relpath(o["dir"], out), "seed": o["seed"], "error": o["error"]}
                        for o in outcomes if o["status"] == "failed"],
        "run_seconds_total": round(sum(o.get("seconds") or 0.0 for o in outcomes), 3),
        "units": {"error": "fraction of the split's digits", "misses": "test digits misclassified",
                  "loss": "per split: MSE (tanh head: mean over the 10 outputs, targets +-1) or "
                          "cross-entropy (linear head)",
                  "reject_1pct": "fraction of test digits rejected (lowest top-2 margin first) for "
                                 "1% error on the rest",
                  "n": "seeds counted",
                  "delta": "95% t interval of the change in mean test misses: paired over seeds when both "
                           "steps ran the same seeds, else Welch; verdicts Holm-corrected over the rows",
                  "placements": "published single runs: true misses, percentile among our seeds",
                  "wall_s": "seconds, wall time of the last invocation that trained runs in this folder "
                            "(a rerun that trains nothing keeps it)",
                  "invocation_wall_s": "seconds, wall time of the invocation that wrote this file"},
        "steps": [r.to_json() for r in rows],
    }
    write_results(out, res)
    return res


def run_ladder(name: str, *, steps: Iterable[str] | None = None, seeds: tuple[int, ...] = (FIRST_SEED,),
               out: str | os.PathLike, engine: str = "fast", workers: int | None = None,
               data_root: str | None = None, override: dict | None = None,
               executor: Executor | None = None, on_line: Callable[[str], None] | None = None,
               on_progress: Callable[[float, float, int, int], None] | None = None) -> dict:
    """Run ladder `name` (one of LADDERS, or all) over `seeds` into `out`; see run_steps.
    `override` replaces config fields in every step (for tests and quick looks)."""
    presets = [apply_override(p, override) for p in ladder_steps(name, steps)]
    return run_steps(presets, tuple(seeds), out, ladder=name, engine=engine, workers=workers,
                     data_root=data_root, executor=executor, on_line=on_line, on_progress=on_progress)
