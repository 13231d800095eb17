"""Figures and one self-contained HTML page for a run folder or a ladder folder.

`report(path)` reads what `train.run(..., out=DIR)` or a ladder wrote, re-evaluates the saved
weights on the test digits, and writes into that folder:

    curves.png            train and test error per pass (ladder: one curve per step, mean +- sd)
    mistakes.png          every misclassified test digit, true -> predicted
    common_mistakes.png   (ladder) the test digits every seed of the last step gets wrong
    confusion.png         true digit x predicted digit
    rejection.png         error on the kept digits versus the share rejected, lowest margin first
    kernels.png           the 12 H1 kernels (5x5)
    feature_maps.png      one test digit, its 12 H1 maps (8x8) and 12 H2 maps (4x4)
    report.html           all of it, the results table, each run's config, machine and versions;
                          figures embedded as data: URIs, so the page needs no network and no
                          other file

Rejection follows the paper (LeCun et al. 1989, section 5): a digit is rejected when the
difference between the two largest outputs is below a threshold; sweeping the threshold gives the
curve, and the paper's headline is the share rejected for 1% error on the rest (12.1% there).
The curve and the figure come from `metrics.rejection_curve` / `metrics.rejection_at`, the same
code that writes `reject_1pct` into every run's metrics.

The figures themselves are figures.py's (matplotlib's Agg canvas, no pyplot); this module reads
the folders, re-evaluates the nets and lays out the page. Every file is written to a temporary
name and renamed into place.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import metrics
from .config import Config
from .data import data_key, load_data
from .figures import (confusion, fig_confusion, fig_curves_ladder, fig_curves_run, fig_feature_maps, fig_gallery,
                      fig_kernels, fig_pass_bands, fig_rejection, fig_seed_misses, png_bytes)
from .model import Net1989
from .published import ANCHOR, PAPER
from .stats import mean_sd, pm
from .store import CorruptFileError, OutputError, expected_passes, load_checkpoint, read_json, write_bytes, write_text
from .store import read_run as read_run_files

REPORT_HTML = "report.html"
GALLERY_MAX = 600                   # an untrained run can miss most of 2007 digits: cap the grid


class ReportError(Exception):
    """The folder is neither a run folder nor a ladder folder, or holds nothing to report."""


# =============================================================================================
# Reading folders
# =============================================================================================

@dataclass
class Run:
    """A run folder: config.json, metrics.jsonl, checkpoint.pt (any may be missing)."""

    dir: Path
    config: dict = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)
    seed: int | None = None
    status: str = "ok"
    # filled by evaluate()
    outputs: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    x_test: torch.Tensor | None = None
    net: Net1989 | None = None
    cfg: Config | None = None
    problem: str | None = None

    @property
    def wrong(self) -> np.ndarray:
        return (self.outputs.argmax(dim=1) != self.labels).numpy()

    def final(self, split: str) -> dict | None:
        recs = [r for r in self.records if r.get("split") == split]
        return recs[-1] if recs else None

    def series(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        recs = sorted((r for r in self.records if r.get("split") == split), key=lambda r: r["pass"])
        return (np.array([r["pass"] for r in recs], dtype=np.int64),
                np.array([r["error"] for r in recs], dtype=np.float64))


def read_run(path: Path) -> Run:
    """A run folder's config and records (store.read_run: a damaged file, a metrics line cut
    short included, is a CorruptFileError naming it)."""
    files = read_run_files(path)
    run = Run(dir=Path(path), config=files.config or {}, records=files.records)
    run.seed = run.config.get("seed")
    return run


def incomplete(run: Run) -> str | None:
    """Why a run folder holds an unfinished run (None if it is finished): fewer passes than its
    config asks for, and the last one finite (a diverged run stops early and is finished)."""
    if not run.config or not run.records:
        return None
    try:
        cfg = Config.from_dict({k: v for k, v in run.config.items() if k in Config.__dataclass_fields__})
    except ValueError:
        return None
    last = max(r["pass"] for r in run.records)
    final = [r for r in run.records if r["pass"] == last]
    diverged = any(r.get("diverged") or not _finite(r.get("loss")) for r in final)
    want = expected_passes(cfg)
    if last < want and not diverged:
        return (f"{run.dir}: an unfinished run (metrics for {last} of its {want} passes; it was "
                "interrupted, or is still training); train it again")
    return None


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


class _DataCache:
    """Data sets loaded once per report (a ladder's runs mostly share one)."""

    def __init__(self, root) -> None:
        self.root = root
        self.sets: dict[tuple, object] = {}

    def get(self, cfg: Config):
        key = data_key(cfg)
        if key not in self.sets:
            self.sets[key] = load_data(cfg, self.root)
        return self.sets[key]


def evaluate(run: Run, cache: _DataCache) -> bool:
    """Load the run's checkpoint and compute its test outputs; False (with run.problem) if not."""
    ck = run.dir / "checkpoint.pt"
    if not ck.is_file():
        run.problem = f"{run.dir}: no checkpoint.pt"
        return False
    try:
        net, cfg = load_checkpoint(ck)
        data = cache.get(cfg)
    except Exception as e:  # a report shows what it can; the reason goes on the page
        run.problem = f"cannot re-evaluate {run.dir.name}: {type(e).__name__}: {e}"
        return False
    run.net, run.cfg = net, cfg
    run.x_test = torch.as_tensor(data.test.x, dtype=torch.float32)
    run.labels = torch.as_tensor(data.test.y, dtype=torch.int64)
    with torch.no_grad():
        run.outputs = net(run.x_test)
    return True


# =============================================================================================
# HTML
# =============================================================================================

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1180px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.lead{font-size:1.1em;background:#f6f8fa;border-left:4px solid #c33;padding:.6em 1em}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0} td,th{border:1px solid #ccc;padding:.25em .55em;text-align:right}
th{background:#f0f0f0} td.l,th.l{text-align:left} img{max-width:100%;height:auto;display:block}
figure{margin:.8em 0} figcaption{font-size:.9em;color:#555} .note{color:#a40;font-size:.9em}
pre{background:#f6f8fa;padding:.6em;font-size:.8em;overflow-x:auto} nav a{margin-right:.8em}
"""


@dataclass
class Page:
    title: str
    lead: str = ""
    sections: list[tuple[str, str, str]] = field(default_factory=list)    # (id, title, body html)
    pngs: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)       # what was not drawn, and why (said on the terminal)

    def figure(self, name: str, fig, caption: str, alt: str) -> str:
        blob = png_bytes(fig)
        self.pngs[name] = blob
        uri = "data:image/png;base64," + base64.b64encode(blob).decode("ascii")
        return (f'<figure><img src="{uri}" alt="{html.escape(alt)}" data-file="{html.escape(name)}">'
                f"<figcaption>{caption}</figcaption></figure>")

    def add(self, sid: str, title: str, body: str) -> None:
        self.sections.append((sid, title, body))

    def render(self) -> str:
        nav = " ".join(f'<a href="#{sid}">{html.escape(t)}</a>' for sid, t, _ in self.sections)
        body = "\n".join(f'<section id="{sid}"><h2>{html.escape(t)}</h2>\n{b}</section>'
                         for sid, t, b in self.sections)
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>\n<body>\n"
                f"<h1>{html.escape(self.title)}</h1>\n<p class=\"lead\">{self.lead}</p>\n"
                f"<nav>{nav}</nav>\n{body}\n"
                f"<p class=\"note\">Made by lecun1989 report on {_dt.date.today().isoformat()}.</p>\n"
                "</body></html>\n")


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """An HTML table; the first `left` columns are left-aligned. Cells are escaped here."""
    th = "".join(f'<th class="{"l" if i < left else ""}">{html.escape(h)}</th>' for i, h in enumerate(header))
    trs = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{html.escape(str(c))}</td>'
                                   for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{trs}</table>"


def _kv_table(d: dict) -> str:
    return _table(["field", "value"], [[k, json.dumps(v) if isinstance(v, (dict, list)) else v]
                                       for k, v in d.items()], left=2)


def _num(v) -> str:
    return f"{v:.4g}" if _finite(v) else "not finite (diverged)"


def _pct(e: float | None) -> str:
    return "-" if e is None or not math.isfinite(e) else f"{100 * e:.2f}%"


def _describe(cfg: dict) -> str:
    bits = [f"data {cfg.get('data', '?')}"]
    for k in ("activation", "head", "optimizer", "lr", "schedule", "passes", "seed"):
        if k in cfg:
            bits.append(f"{k} {cfg[k]}")
    if cfg.get("dropout"):
        bits.append(f"dropout {cfg['dropout']}")
    if cfg.get("shift"):
        bits.append("shift")
    if cfg.get("engine"):
        bits.append(f"engine {cfg['engine']}")
    return ", ".join(bits)


def _provenance_section(page: Page, stored: dict | None) -> None:
    from .store import provenance

    body = ""
    if stored:
        body += "<p>Recorded with the results:</p>" + _kv_table(stored)
    body += ("<p>Machine and versions that made this report (the run folder itself records none)"
             if not stored else "<p>Machine and versions that made this report:") + "</p>"
    body += _kv_table(provenance())
    page.add("machine", "Machine and versions", body)


def _common_figures(page: Page, run: Run, who: str) -> None:
    """Confusion matrix, H1 kernels and feature maps of one evaluated run."""
    preds = run.outputs.argmax(dim=1)
    m = confusion(run.labels.numpy(), preds.numpy())
    page.add("confusion", "Confusion matrix", page.figure(
        "confusion.png", fig_confusion(m),
        f"Rows: true digit; columns: predicted digit ({html.escape(who)}). Off-diagonal cells are the "
        "mistakes, coloured by count.", "confusion matrix"))
    page.add("kernels", "H1 kernels", page.figure(
        "kernels.png", fig_kernels(run.net),
        f"The 12 shared 5x5 kernels of the first layer ({html.escape(who)}): each H1 map is one of these "
        "slid over the padded input with stride 2.", "the 12 H1 kernels"))
    page.add("features", "Feature maps", page.figure(
        "feature_maps.png", fig_feature_maps(run.net, run.x_test[0], int(run.labels[0])),
        f"What the net computes for the first test digit ({html.escape(who)}): 12 H1 maps of 8x8, then "
        "12 H2 maps of 4x4; H3 (30 units) and the 10 outputs follow.", "H1 and H2 feature maps"))


def _gallery_items(run: Run) -> list[tuple[int, str]]:
    preds = run.outputs.argmax(dim=1).numpy()
    idx = np.nonzero(run.wrong)[0]
    return [(int(i), f"{int(run.labels[i])}\u2192{int(preds[i])}") for i in idx]


def _write(folder: Path, page: Page) -> tuple[list[Path], list[str]]:
    """Write the figures and the page; (the files written, page.notes)."""
    written = []
    for name, blob in page.pngs.items():
        write_bytes(folder / name, blob)
        written.append(folder / name)
    write_text(folder / REPORT_HTML, page.render())
    written.append(folder / REPORT_HTML)
    return written, page.notes


# -- one run -----------------------------------------------------------------------------------
def report_run(folder: Path, data_root=None) -> tuple[list[Path], list[str]]:
    run = read_run(folder)
    if not run.records:
        raise ReportError(f"{folder}: metrics.jsonl is missing or empty; nothing to report")
    why = incomplete(run)
    if why:
        raise ReportError(why)
    cache = _DataCache(data_root)
    evaluated = evaluate(run, cache)
    cfg = run.config
    tr, te = run.final("train"), run.final("test")
    page = Page(title=f"lecun1989 report: run {folder.resolve().name}")
    last = max(r["pass"] for r in run.records)
    lead = (f"One run ({html.escape(_describe(cfg))}). After pass {last}: test error "
            f"<b>{_pct(te['error'])}</b> ({te['misses']} of {te['n']} digits wrong), train error "
            f"{_pct(tr['error'])} ({tr['misses']} of {tr['n']}).")
    at1 = None
    if evaluated:
        at1 = metrics.rejection_at(run.outputs, run.labels, run.cfg.head)
        lead += f" To reach 1% error it must reject {100 * at1:.1f}% of the test digits."
    lead += (f" For scale: the paper reported {PAPER.test_error:.2f}% test error on the real USPS digits, "
             f"{PAPER.reject_text()} rejected for 1% error.")
    page.lead = lead

    rows = [[p.label, f"{p.train_error:.2f}% ({p.train_misses})", f"{p.test_error:.2f}% ({p.test_misses})",
             p.reject_text()] for p in (PAPER, ANCHOR)]
    rows.append([f"this run (pass {last})", f"{_pct(tr['error'])} ({tr['misses']})",
                 f"{_pct(te['error'])} ({te['misses']})", _pct(at1) if at1 is not None else "-"])
    page.add("results", "Results", _table(["", "train error (misses)", "test error (misses)",
                                           "rejected for 1% error"], rows)
             + f"<p>Final losses: train {_num(tr.get('loss'))}, test {_num(te.get('loss'))}.</p>")
    if evaluated:
        items = _gallery_items(run)
        shown = items[:GALLERY_MAX]
        more = "" if len(items) <= GALLERY_MAX else f" (the first {GALLERY_MAX} of {len(items)} shown)"
        page.add("mistakes", "Every test digit it gets wrong", page.figure(
            "mistakes.png", fig_gallery(run.x_test, run.labels.numpy(), shown,
                                        f"{len(items)} misclassified test digits, true \u2192 predicted"),
            f"All {len(items)} misclassified test digits{more}, as the net sees them (16x16); "
            "caption: true digit \u2192 predicted digit.", "misclassified test digits"))
    page.add("curves", "Learning curves", page.figure(
        "curves.png", fig_curves_run(run), "Error on the training and test digits after each pass "
        "(log scale).", "learning curves"))
    if evaluated:
        share, err = metrics.rejection_curve(run.outputs, run.labels, run.cfg.head)
        page.add("rejection", "Error versus rejection", page.figure(
            "rejection.png", fig_rejection([("this run", share, err, at1)]),
            "Rejecting the digits whose two largest outputs are closest first (softmax probabilities "
            "for a linear head): error on the digits kept versus the share rejected. The dot marks 1% error; the star is the paper's figure "
            "(other data: USPS).", "error versus rejection"))
        _common_figures(page, run, "this run")
    else:
        page.add("missing", "Figures not drawn", f'<p class="note">{html.escape(run.problem or "")}</p>')
        page.notes.append(f"only the learning curves drawn: {run.problem}")
    page.add("config", "Config", _kv_table(cfg) if cfg else "<p>no config.json</p>")
    _provenance_section(page, cfg.get("provenance") if isinstance(cfg.get("provenance"), dict) else None)
    return _write(folder, page)


# -- a ladder ----------------------------------------------------------------------------------
def _step_series(step: dict, runs: list[Run]) -> dict:
    """Per split: (passes, mean error, sd error, n digits) over the step's runs, pass by pass
    (up to the shortest run, so a diverged seed does not leave a ragged band)."""
    out = {"step": step.get("step", "?"), "n": len(runs)}
    for split in ("train", "test"):
        curves = [r.series(split) for r in runs]
        curves = [c for c in curves if c[0].size]
        if not curves:
            continue
        k = min(c[0].size for c in curves)
        e = np.stack([c[1][:k] for c in curves])
        n = next(r.final(split)["n"] for r in runs if r.final(split))
        sd = e.std(axis=0, ddof=1) if e.shape[0] > 1 else np.zeros(k)
        out[split] = (curves[0][0][:k], e.mean(axis=0), sd, n)
    return out


def _published(p) -> str:
    if not p:
        return "-"
    if isinstance(p, dict):
        if "test" in p:
            return f"{p['test']} ({p.get('source', '')})".replace(" ()", "")
        return json.dumps(p)
    return str(p)


def report_ladder(folder: Path, data_root=None) -> tuple[list[Path], list[str]]:
    res = read_json(folder / "results.json", "run the same ladder command again to rewrite it")
    if not isinstance(res, dict):
        raise CorruptFileError(f"{folder / 'results.json'}: not a ladder's results (a JSON object expected); "
                               "run the same ladder command again to rewrite it")
    steps = res.get("steps") or []
    if not steps:
        raise ReportError(f"{folder}/results.json has no steps; nothing to report")
    cache = _DataCache(data_root)
    step_runs: list[list[Run]] = []
    problems: list[str] = []
    by_dir: dict[Path, Run] = {}           # a multi-pass step has one row per reported pass, same runs
    for st in steps:
        runs = []
        for r in st.get("runs", []):
            if r.get("dir") is None or r.get("status") == "missing":
                continue
            d = folder / r["dir"]
            if d not in by_dir:
                try:
                    run = read_run(d)
                except CorruptFileError as e:
                    problems.append(f"step {st.get('step')}: seed {r.get('seed')}: {e}")
                    continue
                run.seed = r.get("seed", run.seed)
                run.status = r.get("status", "done")
                if not run.records:
                    problems.append(f"step {st.get('step')}: seed {r.get('seed')}: no metrics in {r['dir']}")
                    continue
                by_dir[d] = run
                # weights of a diverged run are not finite: nothing to evaluate
                if run.status != "diverged" and not evaluate(run, cache) and run.problem:
                    problems.append(run.problem)
                elif run.outputs is not None and not torch.isfinite(run.outputs).all():
                    run.outputs = None
                    problems.append(f"{r['dir']}: non-finite outputs, not evaluated")
            runs.append(by_dir[d])
        step_runs.append(runs)
    # rejection per run at its last pass (the checkpoint's); rows reported at an earlier pass get none
    rej: list[list[float]] = []
    for st, runs in zip(steps, step_runs):
        final_row = st.get("report_pass") in (None, st.get("passes"))
        rej.append([metrics.rejection_at(r.outputs, r.labels, r.cfg.head) for r in runs
                    if final_row and r.outputs is not None])

    name = res.get("ladder") or folder.resolve().name
    seeds = res.get("seeds")
    n_seeds = len(seeds) if isinstance(seeds, list) else seeds
    page = Page(title=f"lecun1989 report: ladder {name}")
    first, last = steps[0], steps[-1]
    page.lead = (f"The {html.escape(str(name))} ladder: {len(steps)} steps, {html.escape(str(n_seeds))} seed(s) each. "
                 f"Mean test error went from <b>{_pct(first.get('test_error_mean'))}</b> "
                 f"({html.escape(str(first.get('step')))}: {html.escape(str(first.get('change', '')))}) to "
                 f"<b>{_pct(last.get('test_error_mean'))}</b> ({html.escape(str(last.get('step')))}: "
                 f"{html.escape(str(last.get('change', '')))})"
                 + (f", on {html.escape(str(last['test_digits']))} test digits." if last.get("test_digits") else ".")
                 + f" For scale: the paper reported {PAPER.test_error:.2f}% on the real USPS digits.")

    rows = []
    for st, vals in zip(steps, rej):
        mm = (f"{st.get('test_misses_mean', float('nan')):.1f} [{st.get('test_misses_min', '?')}-"
              f"{st.get('test_misses_max', '?')}]") if st.get("test_misses_mean") is not None else "-"
        d = st.get("delta_misses")
        ci = st.get("delta_ci95")
        delta = "-" if d is None else (f"{d:+.1f}" + (f" [{ci[0]:+.1f}, {ci[1]:+.1f}]"
                                                      if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""))
        noise = st.get("larger_than_noise")
        rm, rs = mean_sd(vals)
        rows.append([st.get("step", "?"), st.get("change", ""), st.get("passes", "-"),
                     st.get("n", len(st.get("runs", []))),
                     pm(st.get("train_error_mean"), st.get("train_error_sd"), pct=True),
                     pm(st.get("test_error_mean"), st.get("test_error_sd"), pct=True), mm,
                     _published(st.get("published")), delta,
                     "-" if noise is None else ("yes" if noise else "no"),
                     pm(rm, rs, pct=True), str(st.get("diverged") or "")])
    table = _table(["step", "change", "passes", "seeds", "train error", "test error",
                    "test misses mean [min-max]", "published test", "delta misses [95% CI]",
                    "larger than noise", "rejected for 1% error", "seeds diverged"], rows, left=2)
    page.add("results", "Results", table + "<p>Errors are mean \u00b1 sd over seeds. Delta: change "
             "in mean test misses against the step each one builds on. Rejection: share of test digits "
             "rejected (lowest margin first) for 1% error on the rest, computed by this report from the "
             "saved weights.</p>")

    from .stats import StepStats
    typed = [StepStats.from_json(st) for st in steps]
    if any(t.misses for t in typed):
        page.add("seeds", "Every seed, every step", page.figure(
            "seeds.png", fig_seed_misses(typed, f"ladder {name}: test misses per seed"),
            "Each dot is one seed's test misses; black: the mean over seeds with its 95% interval; "
            "red star: the published run of the step, orange diamonds: other single runs (the anchor's "
            "scripts run on this kind of machine, reruns by others, ports), at their true miss counts.",
            "test misses per seed and step"))
    if res.get("ladder") == "size" or res.get("inference"):
        from .figures import fig_size, size_points
        pts = size_points(typed, res.get("inference"))
        if pts:
            inf = res.get("inference")
            note = (f" Labels: the width and the fast engine's batched microseconds per digit, measured on "
                    f"{inf['machine']} (the full table of measured costs is in results.md)." if inf else "")
            page.add("size", "What a bigger net buys", page.figure(
                "size.png", fig_size(pts),
                "Test misses (mean over seeds, 95% interval) against the multiply-adds one digit costs at "
                "inference, log scale: one line per recipe over the widths x1, x2, x4; grey squares: the "
                "anchor ladder's training tricks a1-a3, which keep the paper's net and so its cost." + note,
                "test misses against multiply-adds per digit"))
    bands, seen_b = [], set()
    for st, t, runs in zip(steps, typed, step_runs):
        if t.preset in seen_b or len(runs) < 2:
            continue
        seen_b.add(t.preset)
        curves = [np.array([r["misses"] for r in run.records if r["split"] == "test"]) for run in runs]
        kmin = min(c.size for c in curves)
        if kmin < 2:
            continue
        pubs: dict[int, list[int]] = {}
        for t2 in typed:
            if t2.preset == t.preset:
                for pl in t2.placements:
                    pubs.setdefault(t2.report_pass, []).append(pl.misses)
        title = t.change if len(t.change) <= 44 else t.change[:42].rstrip() + "…"
        bands.append((f"{t.preset}: {title}", np.arange(1, kmin + 1),
                      np.stack([c[:kmin] for c in curves]).astype(float), pubs))
    if bands:
        page.add("bands", "Test misses pass by pass, over seeds", page.figure(
            "bands.png", fig_pass_bands(bands),
            "For each step, its seeds' test misses after every pass: the median, the middle half and "
            "the full range over seeds; stars: published runs (and the anchor's scripts run here) at "
            "their passes.", "test misses per pass, band over seeds"))

    # the run shown in detail: the first seed of the last step that could be evaluated
    shown = next((r for r in step_runs[-1] if r.outputs is not None), None)
    if shown is not None:
        who = f"step {last.get('step')}, seed {shown.seed}"
        items = _gallery_items(shown)
        page.add("mistakes", "Every test digit it gets wrong", page.figure(
            "mistakes.png", fig_gallery(shown.x_test, shown.labels.numpy(), items[:GALLERY_MAX],
                                        f"{len(items)} misclassified test digits ({who}), true \u2192 predicted"),
            f"All {len(items)} test digits misclassified by {html.escape(who)}"
            + ("" if len(items) <= GALLERY_MAX else f" (the first {GALLERY_MAX} shown)")
            + "; caption: true \u2192 predicted.", "misclassified test digits"))
        evals = [r for r in step_runs[-1] if r.outputs is not None]
        common = np.logical_and.reduce([r.wrong for r in evals])
        idx = np.nonzero(common)[0]
        preds = [r.outputs.argmax(dim=1).numpy() for r in evals]
        caps = []
        for i in idx:
            got = sorted({int(p[i]) for p in preds})
            caps.append((int(i), f"{int(shown.labels[i])}\u2192{'/'.join(map(str, got))}"))
        page.add("common", "Digits every seed gets wrong", page.figure(
            "common_mistakes.png", fig_gallery(shown.x_test, shown.labels.numpy(), caps[:GALLERY_MAX],
                                               f"{len(idx)} test digits all {len(evals)} seeds of step "
                                               f"{last.get('step')} get wrong"),
            f"{len(idx)} test digits that every one of the {len(evals)} evaluated seeds of the last step "
            "misclassifies; caption: true \u2192 the predictions the seeds make.", "digits every seed gets wrong"))
    series, seen = [], set()
    for st, runs in zip(steps, step_runs):
        key = st.get("preset", st.get("step"))
        if runs and key not in seen:
            seen.add(key)
            series.append(_step_series({**st, "step": key}, runs))
    page.add("curves", "Learning curves", page.figure(
        "curves.png", fig_curves_ladder(series),
        "Error per pass for each step: the line is the mean over seeds, the band \u00b1 one standard "
        "deviation (log scale).", "learning curves per step"))
    curves, seen = [], set()
    for st, runs in zip(steps, step_runs):
        r = next((r for r in runs if r.outputs is not None), None)
        key = st.get("preset", st.get("step"))
        if r is not None and key not in seen:
            seen.add(key)
            share, err = metrics.rejection_curve(r.outputs, r.labels, r.cfg.head)
            curves.append((f"{key} seed {r.seed}", share, err,
                           metrics.rejection_at(r.outputs, r.labels, r.cfg.head)))
    if curves:
        page.add("rejection", "Error versus rejection", page.figure(
            "rejection.png", fig_rejection(curves),
            "For the first seed of each step: error on the digits kept versus the share rejected, "
            "lowest margin between the two top outputs first. Dots mark 1% error; the star is the "
            "paper's figure (other data: USPS).", "error versus rejection"))
    if shown is not None:
        _common_figures(page, shown, f"step {last.get('step')}, seed {shown.seed}")
    if problems:
        page.notes += [f"not drawn: {p}" for p in problems]
        if shown is not None:
            page.notes.append(f"the figures of a single run show step {last.get('step')}, seed {shown.seed}")
        page.add("problems", "Not shown", "<ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in problems)
                 + "</ul>")
    cfgs, seen = [], set()
    for st, runs in zip(steps, step_runs):
        key = st.get("preset", st.get("step"))
        if runs and key not in seen:
            seen.add(key)
            cfgs.append(f"<p><b>{html.escape(str(key))}</b> ({html.escape(str(st.get('change', '')))}),"
                        f" seeds {html.escape(', '.join(str(r.seed) for r in runs))}; config of seed "
                        f"{html.escape(str(runs[0].seed))}:</p>" + _kv_table(runs[0].config))
    page.add("config", "Configs", "".join(cfgs) or "<p>no configs found</p>")
    extra = {k: res[k] for k in ("wall_s",) if k in res}
    prov = res.get("provenance") if isinstance(res.get("provenance"), dict) else None
    _provenance_section(page, {**prov, **extra} if prov else (extra or None))
    return _write(folder, page)


# =============================================================================================
# Entry points
# =============================================================================================

def report(path, *, data_root=None) -> Path:
    """Write the figures and report.html for a run folder or a ladder folder; the HTML's path."""
    return _report(path, data_root)[0]


def _report(path, data_root=None) -> tuple[Path, list[str]]:
    """(the HTML's path, what was not drawn and why)."""
    folder = Path(path)
    if not folder.is_dir():
        raise ReportError(f"{folder}: not a folder")
    if (folder / "results.json").is_file():
        written, notes = report_ladder(folder, data_root)
    elif (folder / "metrics.jsonl").is_file():
        written, notes = report_run(folder, data_root)
    else:
        raise ReportError(f"{folder}: neither a run folder (metrics.jsonl) nor a ladder folder (results.json)")
    return written[-1], notes


def report_command(path, data_root=None) -> int:
    """`lecun1989 report DIR`: 0 on success, 1 with a one-line message on failure. What the
    report could not draw (a missing checkpoint, a damaged run) is said on the terminal too."""
    from .data import DataError
    try:
        html_path, notes = _report(path, data_root=data_root)
    except (ReportError, CorruptFileError, OutputError, DataError) as e:
        print(f"lecun1989: error: {e}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"lecun1989 report: {note}", file=sys.stderr)
    folder = html_path.parent
    pngs = sorted(p.name for p in folder.glob("*.png"))
    print(f"wrote {html_path} ({html_path.stat().st_size // 1024} KB, figures embedded) and "
          f"{len(pngs)} PNG(s): {', '.join(pngs)}")
    return 0
