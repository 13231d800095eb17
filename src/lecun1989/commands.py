"""The `repro`, `train`, `ladder` and `data` commands: what they print, around `train.run` and
`ladder.run_steps`.

Library code elsewhere returns records; this module turns them into the lines a user reads.
One seed runs in this process and prints pass by pass; several seeds go through the ladder
machinery (one single-threaded process per core, one folder per run, mean +- sd over seeds).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import metrics, published, store
from .config import Config
from .model import counts
from .stats import pm
from .store import provenance
from .train import RunResult



def header_lines(cfg: Config, engine: str) -> list[str]:
    g = cfg.geometry
    c = counts(g)
    prov = provenance()
    opts = " ".join(f"{k}={v}" for k, v in cfg.to_dict().items())
    return [
        f"net: H1 {g.h1_maps} maps 8x8, H2 {g.h2_maps} maps 4x4 (each sees {g.h2_fan_maps} of the "
        f"{g.h1_maps} H1 maps), H3 {g.h3_units} units, 10 outputs",
        f"net: {c['parameters']:,} parameters, {c['units']:,} units (incl. 256 inputs), "
        f"{c['connections']:,} connections (incl. biases), {c['macs']:,} multiply-accumulates",
        f"data: {cfg.data}",
        f"config: {opts} (hash {cfg.hash()})",
        f"engine: {engine}; " + ", ".join(f"{k} {v}" for k, v in prov.items() if k != "machine"),
        f"machine: {prov['machine']}",
    ]


def print_pass(p: int, train: dict, test: dict) -> None:
    print(p)
    print(metrics.eval_line("train", train))
    print(metrics.eval_line("test", test), flush=True)


def _row(label: str, tr_err: float, tr_miss: int, te_err: float, te_miss: int, reject: str = "-") -> str:
    return (f"| {label:<44s} | {tr_err:6.2f}% ({tr_miss:>3d}) | {te_err:6.2f}% ({te_miss:>3d}) "
            f"| {reject:>14s} |")


def closing_table(train: dict, test: dict, cfg: Config, engine: str) -> list[str]:
    lines = [f"| {'':<44s} | {'train error':>13s} | {'test error':>13s} | {'reject for 1%':>14s} |",
             f"|{'-' * 46}|{'-' * 15}|{'-' * 15}|{'-' * 16}|"]
    for pub in (published.PAPER, published.ANCHOR, published.ANCHOR_HERE):
        lines.append(_row(pub.label, pub.train_error, pub.train_misses, pub.test_error, pub.test_misses,
                          pub.reject_text()))
    lines.append(_row(f"this run (seed {cfg.seed}, {cfg.passes} passes, {engine})",
                      100 * train["error"], train["misses"], 100 * test["error"], test["misses"],
                      f"{100 * test['reject_1pct']:.1f}%"))
    from .datasets import get
    lines.append(f"train/test digits: {train['n']}/{test['n']}; data {cfg.data}. The paper used the real "
                 f"USPS digits, the anchor the MNIST simulation; this run: {get(cfg.data).help}.")
    return lines


def _run(cfg: Config, engine: str, data_root, out) -> tuple[RunResult, float]:
    """One run in this process, pass by pass; with `out`, into a temporary folder renamed to
    `out` when it has finished (train.train_into: an interrupted run leaves nothing there).
    Returns the result and the wall seconds; a diverged run is the caller's to report
    (`_said_diverged`)."""
    from .data import load_data
    from .train import run, train_into
    t0 = time.perf_counter()
    data = load_data(cfg, data_root)         # a data problem is said before anything else
    for line in header_lines(cfg, engine):
        print(line)
    if out is not None and Path(out).is_dir() and any(Path(out).iterdir()):
        print(f"(the run already in {out} is replaced when this one has finished)")
    try:
        with _term_as_interrupt():
            if out is None:
                result = run(cfg, engine=engine, data=data, on_pass=print_pass)
            else:
                result = train_into(cfg, out, engine=engine, data=data, on_pass=print_pass, replace=True)
    except KeyboardInterrupt:
        raise store.Interrupted("interrupted" + (f"; nothing was written to {out} (the half-trained run "
                                                 "was removed)" if out is not None else "")) from None
    return result, time.perf_counter() - t0


def _said_diverged(result: RunResult) -> bool:
    """True (after saying so on stderr) when the run diverged: its command then exits with 1."""
    if result.diverged_at is None:
        return False
    print(f"lecun1989: run diverged (non-finite loss) at pass {result.diverged_at}", file=sys.stderr)
    return True


def _term_as_interrupt():
    from .ladder import _TermAsInterrupt
    return _TermAsInterrupt()


def repro(cfg: Config, *, engine: str = "fast", data_root=None, out=None) -> int:
    print("lecun1989 repro: LeCun et al. 1989, the faithful 1989 net on the simulated 1989 data")
    result, wall = _run(cfg, engine, data_root, out)
    if _said_diverged(result):
        return 1
    print()
    for line in closing_table(result.final("train"), result.final("test"), cfg, engine):
        print(line)
    print(f"wall time {wall:.1f} s" + (f"; run folder {out}" if out else ""))
    return 0


def train_one(cfg: Config, *, engine: str = "fast", data_root=None, out=None) -> int:
    print("lecun1989 train")
    result, wall = _run(cfg, engine, data_root, out)
    if _said_diverged(result):
        return 1
    tr, te = result.final("train"), result.final("test")
    stopped = f" of {cfg.passes}, stopped early by stop_after" if cfg.last_pass < cfg.passes else ""
    print(f"final (pass {cfg.last_pass}{stopped}): train {100 * tr['error']:.2f}% ({tr['misses']}/{tr['n']}), "
          f"test {100 * te['error']:.2f}% ({te['misses']}/{te['n']}); wall time {wall:.1f} s; run folder {out}")
    print(f"test {metrics.rejection_line(te)} (the paper: {published.PAPER.reject_text()})")
    return 0


def data_command(action: str, name: str | None, root) -> int:
    from . import data
    if action == "fetch":
        paths = data.fetch(name, root)
        for p in paths:
            print(f"ok  {p}")
        if not paths:
            print(f"{name}: embedded in the package, nothing to fetch")
        return 0
    rows = data.status(root, verify=(action == "verify"))
    base = data.data_root(root)
    note = ""
    if not base.is_dir():
        note = (" (does not exist yet; created on first download)" if data.root_source(root) is None else
                " (does not exist: create it before downloading into it, or fix --data-root / LECUN1989_DATA)")
    print(f"data root: {base}{note}")
    bad = 0
    for r in rows:
        state = ("BAD" if r["verified"] is False else "missing" if not r["present"] else
                 "ok" if r["verified"] else "present")
        bad += state == "BAD"
        print(f"{r['name']:<22s} {r['file']:<28s} {state:<8s} {r['note']}".rstrip())
    if action == "verify":
        print(f"{bad} bad file(s)" if bad else "every present file checks out")
    return 1 if bad else 0


# -- several seeds -------------------------------------------------------------------------------
def _seed_step(cfg: Config, name: str, change: str):
    from .config import Preset
    return Preset(name, "custom", change, "", cfg, (cfg.last_pass,), {})


def _interrupted(out):
    """The one line printed on Ctrl-C (by cli.main) while runs go on in `out`."""
    from .store import Interrupted
    if not out:
        return Interrupted("interrupted")
    return Interrupted(f"interrupted; finished runs are kept in {out}: run the same command again "
                       "to train only what is missing")


class _Progress:
    """On a terminal: one progress bar with the ETA of all the runs to train (stderr), the
    per-run lines printed above it (stdout). Elsewhere: just the lines."""

    def __init__(self) -> None:
        self.bar = None
        self.on = sys.stderr.isatty()
        import threading
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        with self.lock:
            if self.bar is not None:
                self.bar.write(text, file=sys.stdout)
                sys.stdout.flush()
            else:
                print(text, flush=True)

    def update(self, done: float, total: float, k: int, n: int) -> None:
        if not self.on or total <= 0:
            return
        with self.lock:
            if self.bar is None:
                from tqdm import tqdm
                self.bar = tqdm(total=total, unit="", leave=False, dynamic_ncols=True, desc=f"runs {k}/{n}",
                                bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed} elapsed, ETA {remaining}]")
            self.bar.set_description_str(f"runs {k}/{n}", refresh=False)
            self.bar.update(max(0.0, min(done, total) - self.bar.n))

    def close(self) -> None:
        with self.lock:
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def repro_seeds(cfg: Config, seeds: tuple[int, ...], *, engine: str = "fast", jobs: int | None = None,
                data_root=None, out=None) -> int:
    """The 1989 run over several seeds in parallel: the first seed's per-pass lines, then mean +- sd
    over seeds next to the paper and the anchor. `out` (default: a temporary folder, removed after)
    holds runs/<id>/ and results.{json,md,csv}."""
    from . import ladder
    print("lecun1989 repro: LeCun et al. 1989, the faithful 1989 net on the simulated 1989 data, "
          f"over {len(seeds)} seeds")
    for line in header_lines(cfg.with_overrides(seed=seeds[0]), engine):
        print(line)
    print(f"seeds: {', '.join(map(str, seeds))}", flush=True)
    folder = Path(out) if out else Path(tempfile.mkdtemp(prefix="lecun1989-repro-"))
    try:
        try:
            with _Progress() as bar:
                res = ladder.run_steps([_seed_step(cfg, "1989", "the 1989 run")], seeds, folder, ladder="repro",
                                       engine=engine, workers=jobs, data_root=data_root, on_line=bar.line,
                                       on_progress=bar.update)
        except KeyboardInterrupt:
            raise _interrupted(out) from None
        row = res["steps"][0]
        first = row["runs"][0]
        print()
        print(f"seed {first['seed']}, pass by pass:")
        if first["status"] != "missing":
            records = store.read_run(folder / first["dir"]).records
            by_pass: dict[int, dict] = {}
            for r in records:
                by_pass.setdefault(r["pass"], {})[r["split"]] = r
            for p, recs in sorted(by_pass.items()):
                print_pass(p, recs["train"], recs["test"])
        print()
        lines = []
        if first["status"] == "done":
            tr, te = _last_records(folder / first["dir"])
            lines = closing_table(tr, te, cfg.with_overrides(seed=first["seed"]), engine)
        for line in lines[:-1]:          # the last line is the footnote: it goes under the mean
            print(line)
        label = f"mean ± sd over {row['n']} seeds"
        print(f"| {label:<44s} | {pm(row['train_error_mean'], row['train_error_sd'], pct=True):>13s} | "
              f"{pm(row['test_error_mean'], row['test_error_sd'], pct=True):>13s} | "
              f"{pm(row['test_reject_1pct_mean'], row['test_reject_1pct_sd'], pct=True, digits=1):>14s} |")
        if row["n"]:
            print(f"test misses over the {row['n']} seeds: mean {row['test_misses_mean']:.1f}, "
                  f"min {row['test_misses_min']}, max {row['test_misses_max']} (of {row['test_digits']})")
        if row["diverged"]:
            print(f"{row['diverged']} run(s) diverged (non-finite loss), at pass(es) "
                  f"{', '.join(map(str, row['diverged_at']))}")
        if lines:
            print(lines[-1])
        print(f"wall time {res['wall_s']:.1f} s on {min(jobs or os.cpu_count() or 1, len(seeds))} process(es)"
              + (f"; results in {out}" if out else ""))
        return 1 if res["runs_failed"] else 0
    finally:
        if not out:
            shutil.rmtree(folder, ignore_errors=True)


def _last_records(run_dir: Path) -> tuple[dict, dict]:
    records = store.read_run(run_dir).records
    return ([r for r in records if r["split"] == "train"][-1], [r for r in records if r["split"] == "test"][-1])


def _print_results(res: dict, out) -> None:
    """The compact table (fits 80 columns), what its columns mean, failures, the wall time;
    the full table (errors, MSE, rejection, published figures, run folders) is in results.md."""
    from . import results
    print()
    for line in results.compact_table_lines(res["steps"], len(res["seeds"])):
        print(line)
    c = counts()
    macs = {s["macs_per_digit"] if isinstance(s, dict) else s.macs_per_digit for s in res["steps"]}
    same = macs <= {c["macs"]}
    cost = (f"Every step has {c['parameters']:,} parameters and {c['macs']:,} multiply-adds per digit."
            if same else "Steps differ in size: parameters and multiply-adds per digit are in results.md.")
    for line in ("n: seeds counted; test misses: mean [min-max] over the seeds; Δ: change of the mean",
                 "from the base step, with a Welch t 95% interval; verdict: whether it excludes 0.",
                 cost):
        print(line)
    errors: dict[str, list[str]] = {}
    for f in res["runs_failed"]:
        errors.setdefault(f["error"], []).append(f["dir"])
    for error, dirs in errors.items():     # e.g. a missing data file: said once, not once per run
        print(f"lecun1989: error: {len(dirs)} run(s) failed: {error}", file=sys.stderr)
    inv = res.get("invocation_wall_s", res["wall_s"])
    wall = f"wall time {inv:.1f} s"
    if not res["runs_trained"] and inv != res["wall_s"]:
        wall += f" (nothing to train: {res['runs_reused']} runs reused; training them took {res['wall_s']:.1f} s)"
    print(wall)
    print(f"the full table (errors, MSE, rejection, published figures, run folders): "
          f"{Path(out) / 'results.md'} (also .json, .csv)")


def train_seeds(cfg: Config, seeds: tuple[int, ...], *, engine: str = "fast", jobs: int | None = None,
                data_root=None, out=None) -> int:
    """One config over several seeds in parallel, into `out` (runs/<id>/ and results.*)."""
    from . import ladder, results
    out = out or os.path.join("runs", f"seeds-{cfg.data}-{cfg.hash()}")
    print(f"lecun1989 train over {len(seeds)} seeds")
    for line in header_lines(cfg.with_overrides(seed=seeds[0]), engine):
        print(line)
    print(f"seeds: {', '.join(map(str, seeds))}", flush=True)
    try:
        with _Progress() as bar:
            res = ladder.run_steps([_seed_step(cfg, "train", results.overrides_text(cfg))], seeds, out,
                                   ladder="train", engine=engine, workers=jobs, data_root=data_root,
                                   on_line=bar.line, on_progress=bar.update)
    except KeyboardInterrupt:
        raise _interrupted(out) from None
    _print_results(res, out)
    return 1 if res["runs_failed"] else 0


def ladder_command(name: str, *, steps=None, seeds: tuple[int, ...], engine: str = "fast",
                   jobs: int | None = None, data_root=None, out=None, override: dict | None = None) -> int:
    """`lecun1989 ladder NAME`: every step x seed, one line per finished run, then the table."""
    from . import ladder
    out = out or os.path.join("runs", f"ladder-{name}")
    print(f"lecun1989 ladder {name}: seeds {', '.join(map(str, seeds))}; output {out}", flush=True)
    try:
        with _Progress() as bar:
            res = ladder.run_ladder(name, steps=steps, seeds=seeds, out=out, engine=engine, workers=jobs,
                                    data_root=data_root, override=override, on_line=bar.line,
                                    on_progress=bar.update)
    except KeyboardInterrupt:
        raise _interrupted(out) from None
    _print_results(res, out)
    return 1 if res["runs_failed"] else 0
