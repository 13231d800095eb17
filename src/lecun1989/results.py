"""A ladder's results: rows of statistics over seeds read from the run folders, and the tables,
verdicts and files (results.{json,md,csv}) that show them.

`summarise` reads each step's runs (metrics.jsonl, at every reported pass) into `StepStats` rows:
mean and sample sd over seeds, min and max, the change against the step a step builds on with
its interval and a Holm-corrected verdict (stats.py), and where the published runs of the step
fall among the seeds (published.py). The functions below it turn rows into markdown and CSV;
they read nothing but the rows, so a results.json rebuilds every table exactly.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from . import store
from .config import Config, Preset
from .datasets import PAPER_TEST, PAPER_TRAIN
from .stats import StepStats, apply_holm, compare, mean_sd, pm

is_finished = store.is_finished
read_run = store.read_finished
run_id = store.run_id


# =============================================================================================
# Rows from the run folders
# =============================================================================================

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
    rows: list[StepStats] = []
    misses_by_label: dict[str, dict[int, int]] = {}
    last_label: dict[str, str] = {}
    for p in steps:
        macs = p.config.geometry.counts()["macs"]          # the step's net (its widths)
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


# =============================================================================================
# Tables and text
# =============================================================================================

def overrides_text(cfg: Config) -> str:
    """The fields of `cfg` that differ from the 1989 defaults, as `key=value` words."""
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
    same = {r.macs_per_digit for r in rows} <= {c["macs"]}
    lines = [
        f"Every step has the same {c['parameters']:,} parameters and {c['macs']:,} multiply-adds per "
        "digit (model.counts()): none of these changes costs inference time." if same else
        "The steps' nets differ in width: each step's multiply-adds per digit are in the verdict "
        "table (geometry.Geometry.counts), its measured inference time in the inference table.",
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
                     f"digits ({PAPER_TRAIN} train / {PAPER_TEST} test): the same figures beside every step.")
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
    out += ["## Verdicts", ""] + verdict_lines(res["steps"]) + [""]
    if res.get("inference"):
        from .inference import table_lines as inference_lines
        inf = res["inference"]
        out += ["## Inference cost per digit (measured)", "",
                f"On {inf['machine']}, {inf['threads']} thread; {inf['method']}.", ""]
        out += inference_lines(inf) + [""]
    out += ["## Every figure", ""]
    out += table_lines(res["steps"]) + [""]
    out += [f"- {line}" for line in notes_lines(res["steps"], tuple(res["seeds"]))] + [""]
    out += ["| step | passes | config hash (seed 1337) | config vs the 1989 defaults |", "|---|---|---|---|"]
    seen = set()
    for r in res["steps"]:
        if r["preset"] in seen:
            continue
        seen.add(r["preset"])
        out.append(f"| {r['preset']} | {r['passes']} | {r['config_hash']} | {overrides_text(Config.from_dict(r['config']))} |")
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
