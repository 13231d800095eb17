"""Many runs (steps x seeds): the plan, the executor, and the runs trained into the run store.

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

With engine "lockstep" a worker trains a group of runs at once: the seeds of one config, up to
K of them (the CPU's float32 lanes; make_batches), one per vector lane (train.train_group_into:
each seed in its own temporary folder, all renamed into place when the group has finished, every
run claimed before the group starts). The run folders are those of single runs, named
`<hash>-lockstep` (its float rounding differs from the fast engine's).

Runs go through an `Executor` (one method: `map(fn, jobs)` yielding results as they finish).
`LocalExecutor` uses one single-threaded process per core; a cluster backend would implement
the same method. Each run depends only on its config (init, dropout masks and shifts all come
from the seed), so the results do not depend on the executor or the number of workers.

Once the runs are there, results.py summarises them (statistics over seeds, the change from
each step's base with its verdict) and writes results.{json,md,csv}.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from . import results, store
from .config import ALL_LADDERS, LADDERS, PRESETS, Config, ConfigError, Preset

log = logging.getLogger(__name__)

FIRST_SEED = 1337               # the anchor's seed: ladders count up from it
TMP_PREFIX = store.TMP_PREFIX
STATUS_FILE = store.STATUS_FILE
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


run_id = store.run_id
read_run = store.read_finished


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
    return train_batch((job,))[0]


def _blank_outcome(job: RunJob) -> dict:
    final = Path(job.dir)
    return {"id": final.name, "dir": str(final), "seed": job.config.seed, "diverged_at": None,
            "train": None, "test": None, "error": None}


def train_batch(batch: tuple[RunJob, ...]) -> list[dict]:
    """train_job for a batch: one run (any engine), or a lockstep group (engine "lockstep": seeds
    of one config, trained together by train.train_group_into). Returns one outcome per job, in
    order. Every run of the batch is claimed before any is trained and the claims are held until
    the batch is in place; runs another process holds are `busy` (left to it), runs finished
    meanwhile are read back, the others trained together. A failure fails the runs trained
    together (and leaves none of their folders), not the other runs of the ladder."""
    outs = [_blank_outcome(j) for j in batch]
    with contextlib.ExitStack() as claims:
        mine = []
        for i, job in enumerate(batch):
            final = Path(job.dir)
            try:
                if not claims.enter_context(store.claim(final)):
                    outs[i].update(status="busy", seconds=0.0)
                    continue
                if final.exists():
                    if store.check_run(final, job.config) is None:
                        outs[i] = {**_finished_outcome(final), "by_other": True}
                        continue
                    store.discard(final)
            except Exception as e:  # noqa: BLE001 - reported as a failed run, the others go on
                outs[i].update(status="failed", seconds=0.0, error=_error_text(e))
                continue
            mine.append(i)
        if not mine:
            return outs
        first = batch[mine[0]]
        try:
            data = _data_for(first.config, first.data_root)
            if first.engine == "lockstep":
                from .train import train_group_into
                results = train_group_into(first.config, [batch[i].config.seed for i in mine],
                                           [batch[i].dir for i in mine], engine="lockstep", data=data)
            else:
                [i] = mine
                from .train import train_into
                results = [train_into(first.config, batch[i].dir, engine=first.engine, data=data, progress=False)]
        except Exception as e:  # noqa: BLE001 - reported as failed runs, the others go on
            for i in mine:
                outs[i].update(status="failed", seconds=0.0, error=_error_text(e))
            return outs
    for i, res in zip(mine, results):
        outs[i].update(status="diverged" if res.diverged_at is not None else "done", diverged_at=res.diverged_at,
                       seconds=res.seconds, train=res.final("train"), test=res.final("test"))
    return outs


def lockstep_lanes() -> int:
    """The runs per lockstep group: the CPU's float32 lanes (lockstep.cpu_lanes: 16 with AVX-512,
    8 with AVX2; LECUN1989_LOCKSTEP_K overrides it)."""
    from .lockstep import cpu_lanes
    return cpu_lanes()


def make_batches(todo: list[RunJob], k: int | None = None) -> list[tuple[RunJob, ...]]:
    """What one worker trains at a time: one run, or for engine "lockstep" the runs of one config
    (seeds apart) in groups of up to k (default lockstep_lanes(); the last group of a config holds
    the rest, in lockstep.group_lanes lanes), in the order of their first run in `todo`."""
    batches: list[tuple[RunJob, ...]] = []
    same: dict[tuple, list[RunJob]] = {}
    order: list[tuple] = []
    for j in todo:
        if j.engine != "lockstep":
            batches.append((j,))
            continue
        key = (j.config.with_overrides(seed=0).hash(), j.data_root)
        if key not in same:
            same[key] = []
            order.append(key)
        same[key].append(j)
    if order:
        k = int(k or lockstep_lanes())
        for key in order:
            runs = same[key]
            batches += [tuple(runs[g:g + k]) for g in range(0, len(runs), k)]
    return batches


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
    """Digit-passes, scaled by the net's multiply-adds against the paper's net (a wider net's
    digit costs more: the size ladder's x4 about 12 times the paper's)."""
    from .geometry import PAPER_COUNTS
    scale = cfg.geometry.counts()["macs"] / PAPER_COUNTS["macs"]
    return round(store.expected_passes(cfg) * train_digits(cfg) * scale)


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
    # Longest runs (lockstep groups: the most digit-passes of one worker) first: the last to
    # start are short, so the workers finish together.
    todo.sort(key=lambda j: -_cost(j.config))
    ex = executor or LocalExecutor(workers)
    k = 0
    try:
        with _TermAsInterrupt(), _Watch(todo, on_progress) as watch:
            pending, waiting = list(todo), False
            while True:
                batches = sorted(make_batches(pending), key=lambda b: -_cost(b[0].config) * len(b))
                for outcomes in ex.map(train_batch, batches):
                    for outcome in outcomes:
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
        names = [s for ladder in ALL_LADDERS for s in LADDERS[ladder]]
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
# its folder has finished yet: the slower of this project's quiet machines, evaluation of both
# splits after every pass included (docs/ladder.md, "Time": the fast engine's 40-seed anchor
# ladder at 151,200 a second on 2 processes of an AMD EPYC, 183,600 on a faster instance; the
# reference loop about 600). The lockstep engine, per seed in groups of 16 on 2 processes
# (docs/lockstep.md, "The decisive ladders on the lockstep engine", Intel Xeon): SGD steps
# 200,000-214,000 (a0, a1), AdamW steps 72,000-85,000 (a2-a4).
DIGITS_PER_SECOND = {"fast": 75_000.0, "torch": 600.0, "lockstep": 200_000.0}
LOCKSTEP_ADAMW_DIGITS_PER_SECOND = 75_000.0


def estimate_seconds(todo: list[RunJob], engine: str, workers: int, out: Path) -> float:
    """Wall seconds to train `todo` on `workers` processes: the digit-passes to train divided by
    the rate of this folder's finished runs of the same engine (else DIGITS_PER_SECOND; a
    lockstep run's seconds are its group's shared out, so its rate is per seed as well)."""
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
    if done_secs > 0:
        return sum(_cost(j.config) for j in todo) / (done_digits / done_secs) / max(1, workers)
    default = DIGITS_PER_SECOND.get(engine, DIGITS_PER_SECOND["torch"])
    return sum(_cost(j.config) / (LOCKSTEP_ADAMW_DIGITS_PER_SECOND if engine == "lockstep" and
                                  j.config.optimizer == "adamw" else default) for j in todo) / max(1, workers)


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
        units = len(make_batches(todo)) if engine == "lockstep" else len(todo)
        groups = f" in {units} lockstep group(s)" if engine == "lockstep" and todo else ""
        say(f"{n_runs} runs ({len(steps)} step{'s' * (len(steps) > 1)} x {len(seeds)} seed{'s' * (len(seeds) > 1)}"
            f"{shared}): {n_done} already done in "
            f"{out}, {len(todo)} to train{groups} on {min(w, max(1, units))} process(es), engine {engine}"
            + (f"; estimated {_duration(estimate_seconds(todo, engine, min(w, units), out))}" if todo else ""))
        if todo:
            _check_data(todo)
            if engine == "fast":
                from .fast import ensure_compiled
                ensure_compiled()       # compile once, before the workers start (they load the cache)
            elif engine == "lockstep":
                from .lockstep.compilation import ensure_compiled
                ensure_compiled()       # a stale cache dropped once here, not by each worker

    outcomes = run_many(jobs, workers=workers, executor=executor, on_line=say, on_plan=plan,
                        on_progress=on_progress,
                        on_done=lambda o, k, total: say(progress_line(o, k, total, step_of[o["dir"]])))
    rows = results.summarise(steps, seeds, out, engine)
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
    if ladder == "size":
        # what each net costs at inference, measured here (inference.py): its results.json carries it
        from . import inference
        say("measuring each step's inference cost (inference.py) ...")
        res["inference"] = inference.measure_steps(steps)
    results.write_results(out, res)
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
