"""The report's figures: each a function from numbers to a matplotlib Figure (Agg canvas, no
pyplot, no global state, no display), and the numbers behind them (confusion matrix, hidden
layers). report.py lays them out on the page; nothing here reads or writes files.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch

from .model import H1_MAPS, H1_SIDE, H2_MAPS, H2_SIDE, IMAGE, KERNEL, Net1989
from .published import PAPER

TARGET_ERROR = 0.01                 # the paper's operating point: 1% error on the kept digits
GALLERY_COLS = 15
DPI = 100


# =============================================================================================
# Numbers behind the figures
# =============================================================================================

def confusion(labels: torch.Tensor, preds: torch.Tensor, n: int = 10) -> np.ndarray:
    """(n, n) counts: row = true digit, column = predicted digit."""
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (np.asarray(labels), np.asarray(preds)), 1)
    return m


def hidden_layers(net: Net1989, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(H1 (N,12,8,8), H2 (N,12,4,4), outputs) of the net's own forward pass.

    The hidden activations are recorded by wrapping the net's activation function for one call of
    `Net1989.forward`, so no line of the architecture is repeated here."""
    recorded: list[torch.Tensor] = []
    act = net.act

    def recording(a: torch.Tensor) -> torch.Tensor:
        y = act(a)
        recorded.append(y.detach())
        return y

    was = net.training
    net.eval()
    net.act = recording
    try:
        with torch.no_grad():
            out = net(x)
    finally:
        net.act = act
        net.train(was)
    h1, h2 = recorded[0], recorded[1]
    n = x.shape[0]
    g = net.geometry                        # (the paper's 12 and 12 maps, or the run's widths)
    if h1.shape != (n, g.h1_maps, H1_SIDE, H1_SIDE) or h2.shape != (n, g.h2_maps, H2_SIDE, H2_SIDE):
        raise RuntimeError(f"unexpected hidden shapes {tuple(h1.shape)}, {tuple(h2.shape)}")
    return h1, h2, out


# =============================================================================================
# Figures (matplotlib Agg canvas, no pyplot)
# =============================================================================================

def _figure(w: float, h: float, layout: str | None = None):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _log_axes(ax) -> None:
    """A log error axis labelled in plain percentages (0.5, 1, 2, 5 ... not 10^0), integer passes."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _log_counts(ax) -> None:
    """A log axis of miss counts labelled in plain numbers at every tick (30, 40, 50 ... 100),
    not powers of ten: the counts of one figure span less than a decade or two."""
    from matplotlib.ticker import FuncFormatter
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=7)


def _floor(n: int) -> float:
    """Where a zero error is drawn on a log axis: half a miss."""
    return 0.5 / max(n, 1) * 100


def fig_curves_run(run):
    """Train and test error per pass of one run (a report.Run)."""
    fig = _figure(7.5, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    zero = False
    for split, colour in (("train", "tab:blue"), ("test", "tab:red")):
        p, e = run.series(split)
        if not p.size:
            continue
        n = run.final(split)["n"]
        y = e * 100
        zero |= bool((y <= 0).any())
        y = np.where(y > 0, y, _floor(n))
        ax.plot(p, y, "o-" if p.size < 30 else "-", color=colour, ms=3, label=f"{split} ({n} digits)")
    _log_axes(ax)
    ax.set_xlabel("pass")
    ax.set_ylabel("error (%), log scale")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title("Learning curves" + (" (0 errors drawn at half a miss)" if zero else ""))
    return fig


def fig_curves_ladder(series: list[dict]):
    fig = _figure(11, 4.2, layout="constrained")
    cmap = _cmap("viridis")
    zero = False
    for j, split in enumerate(("train", "test")):
        ax = fig.add_subplot(1, 2, j + 1)
        for i, s in enumerate(series):
            if split not in s:
                continue
            p, mean, sd, n = s[split]
            colour = cmap(0.85 * i / max(len(series) - 1, 1))
            floor = _floor(n)
            m = mean * 100
            zero |= bool((m <= 0).any())
            lo = np.maximum((mean - sd) * 100, floor)
            hi = np.maximum((mean + sd) * 100, floor)
            ax.plot(p, np.maximum(m, floor), "-", color=colour, lw=1.5, label=f"{s['step']} (n={s['n']})")
            ax.fill_between(p, lo, hi, color=colour, alpha=0.2, lw=0)
        _log_axes(ax)
        ax.set_xlabel("pass")
        ax.set_ylabel("error (%), log scale")
        ax.set_title(f"{split} error, mean \u00b1 sd over seeds")
        ax.grid(True, which="both", alpha=0.3)
        if j == 1:
            ax.legend(fontsize=8, loc="upper right")
    if zero:
        fig.suptitle("(0 errors drawn at half a miss)", fontsize=8, y=0.02)
    return fig


def fig_seed_misses(rows: list, title: str):
    """Every seed's test misses per step as dots, the mean with its 95% interval, and the
    published single runs as distinct markers; steps in ladder order."""
    from scipy import stats as sst
    fig = _figure(max(6.0, 0.75 * len(rows) + 2.5), 4.6, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    rng = np.random.default_rng(0)          # jitter only: the dots' x positions
    markers = {"published": ("*", "#d62728", 140), "other": ("D", "#ff7f0e", 40)}
    shown = set()
    for i, r in enumerate(rows):
        y = np.array(list(r.misses.values()), dtype=float)
        if y.size == 0:
            continue
        ax.scatter(i + rng.uniform(-0.18, 0.18, y.size), y, s=10, color="#1f77b4", alpha=0.45, lw=0,
                   label=None if "seed" in shown else "one seed")
        shown.add("seed")
        m = y.mean()
        if y.size > 1:
            half = sst.t.ppf(0.975, y.size - 1) * y.std(ddof=1) / np.sqrt(y.size)
            ax.errorbar([i + 0.32], [m], yerr=[[half], [half]], fmt="o", color="black", ms=4, capsize=3,
                        label=None if "mean" in shown else "mean, 95% interval")
            shown.add("mean")
        for pl in r.placements:
            kind = "published" if pl.source.endswith("(published)") else "other"
            mk, colour, size = markers[kind]
            lab = "published run" if kind == "published" else "other single run (reruns, ports)"
            ax.scatter([i - 0.32], [pl.misses], marker=mk, s=size, color=colour, edgecolor="black", lw=0.4,
                       zorder=3, label=None if kind in shown else lab)
            shown.add(kind)
    ys = [v for r in rows for v in r.misses.values()] + [pl.misses for r in rows for pl in r.placements]
    if ys and min(ys) > 0 and max(ys) > 4 * min(ys):
        # a collapsed seed (hundreds of misses) would flatten every other step on a linear axis
        _log_counts(ax)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r.step for r in rows], rotation=30 if len(rows) > 8 else 0, ha="right" if len(rows) > 8 else "center")
    ax.set_ylabel("test misses (of %s)%s" % (rows[0].test_digits or "?", ", log scale" if ax.get_yscale() == "log" else ""))
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def fig_pass_bands(series: list[tuple[str, np.ndarray, np.ndarray, dict[int, list[int]]]]):
    """Test misses against pass for each step's seeds: median, the 25-75% and min-max bands over
    seeds, and the published runs at their passes; one panel per step."""
    k = len(series)
    cols = min(k, 3)
    rows_n = (k + cols - 1) // cols
    fig = _figure(4.0 * cols, 3.0 * rows_n, layout="constrained")
    for j, (name, passes, misses, published) in enumerate(series):
        ax = fig.add_subplot(rows_n, cols, j + 1)
        q0, q25, q50, q75, q100 = np.percentile(misses, [0, 25, 50, 75, 100], axis=0)
        ax.fill_between(passes, q0, q100, color="#1f77b4", alpha=0.15, lw=0, label="min-max")
        ax.fill_between(passes, q25, q75, color="#1f77b4", alpha=0.35, lw=0, label="25-75%")
        ax.plot(passes, q50, "-", color="#1f77b4", lw=1.5, label=f"median of {misses.shape[0]} seeds")
        for at, values in sorted(published.items()):
            ax.scatter([at] * len(values), values, marker="*", s=90, color="#d62728", edgecolor="black",
                       lw=0.4, zorder=3, label="single runs (published, reruns)" if at == min(published) else None)
        ax.set_yscale("log")
        _log_counts(ax)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("pass")
        ax.set_ylabel("test misses, log scale")
        ax.grid(True, which="both", alpha=0.3)
        if j == 0:
            ax.legend(fontsize=7, loc="upper right")
    return fig


def _cmap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def fig_gallery(x: torch.Tensor, labels: np.ndarray, shown: list[tuple[int, str]], title: str):
    """A grid of 16x16 test digits (ink dark on white paper), each captioned above.

    The digits are tiled into one RGB mosaic drawn by a single imshow (one axes per digit would
    take seconds for a few hundred digits)."""
    k = len(shown)
    cols = min(GALLERY_COLS, max(k, 1))
    rows = max(1, math.ceil(k / cols))
    cap, gap = 7, 2                                  # pixel rows for the caption, pixels between cells
    cw, ch = IMAGE + gap, IMAGE + cap + gap
    mosaic = np.ones((rows * ch, cols * cw, 3), dtype=np.float32)
    for i, (idx, _) in enumerate(shown):
        r, c = divmod(i, cols)
        top, left = r * ch + cap, c * cw + gap // 2
        grey = (1.0 - x[idx, 0].numpy()) / 2.0       # [-1, 1] -> ink 0 (black), paper 1 (white)
        mosaic[top - 1:top + IMAGE + 1, left - 1:left + IMAGE + 1] = 0.8    # a light frame
        mosaic[top:top + IMAGE, left:left + IMAGE] = np.clip(grey, 0, 1)[..., None]
    fig = _figure(cols * 0.62, rows * 0.85 + 0.45)
    ax = fig.add_axes((0, 0, 1, 0.97 if rows > 3 else 0.9))
    ax.imshow(mosaic, interpolation="nearest", aspect="equal")
    for i, (_, caption) in enumerate(shown):
        r, c = divmod(i, cols)
        ax.text(c * cw + gap // 2 + IMAGE / 2 - 0.5, r * ch + cap - 1.5, caption, ha="center", va="bottom",
                fontsize=8, color="firebrick")
    if not shown:
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
    ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return fig


def fig_confusion(m: np.ndarray):
    fig = _figure(5.6, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    off = m.astype(float).copy()
    np.fill_diagonal(off, np.nan)             # colour the mistakes; the diagonal would swamp them
    vmax = max(np.nanmax(off) if np.isfinite(off).any() else 1.0, 1.0)
    ax.imshow(off, cmap="Reds", vmin=0, vmax=vmax)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            v = m[i, j]
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                        color="black" if i == j or off[i, j] < 0.6 * vmax else "white",
                        fontweight="bold" if i == j else "normal")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(f"Confusion matrix ({int(m.sum()) - int(np.trace(m))} mistakes of {int(m.sum())})")
    return fig


def fig_rejection(curves: list[tuple[str, np.ndarray, np.ndarray, float]]):
    """curves: (label, share rejected, error on the rest, share for 1% error)."""
    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    cmap = _cmap("viridis")
    right = 0.3
    for i, (label, share, err, at1) in enumerate(curves):
        colour = cmap(0.85 * i / max(len(curves) - 1, 1)) if len(curves) > 1 else "tab:red"
        ax.plot(share * 100, err * 100, "-", color=colour, lw=1.5,
                label=f"{label}: {100 * at1:.1f}% rejected for 1% error")
        ax.plot([at1 * 100], [TARGET_ERROR * 100], "o", color=colour, ms=5)
        right = max(right, min(1.0, 1.5 * at1))
    ax.axhline(TARGET_ERROR * 100, color="gray", ls="--", lw=1)
    ax.text(right * 100 * 0.98, TARGET_ERROR * 100, "1% error", ha="right", va="bottom", fontsize=8, color="gray")
    ax.plot([PAPER.reject_1pct * 100], [TARGET_ERROR * 100], "k*", ms=9,
            label=f"paper (USPS, 1989): {PAPER.reject_text()} rejected for 1% error")
    right = max(right, PAPER.reject_1pct * 1.3)
    ax.set_xlim(0, right * 100)
    ax.set_ylim(0, None)
    ax.set_xlabel("share of test digits rejected (%), lowest margin between the top two outputs first")
    ax.set_ylabel("error on the digits kept (%)")
    ax.set_title("Error versus rejection")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def fig_kernels(net: Net1989):
    w = net.H1w.detach()[:, 0].numpy()            # (12, 5, 5)
    v = float(np.abs(w).max()) or 1.0
    fig = _figure(11, 2.3)
    for i in range(w.shape[0]):
        ax = fig.add_subplot(1, w.shape[0], i + 1)
        im = ax.imshow(w[i], cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
        ax.set_title(f"H1.{i}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=fig.axes, shrink=0.8, pad=0.01)
    fig.suptitle(f"The {w.shape[0]} H1 kernels ({KERNEL}x{KERNEL}); red positive, blue negative", fontsize=10)
    return fig


def fig_feature_maps(net: Net1989, x: torch.Tensor, label: int):
    h1, h2, out = hidden_layers(net, x[None] if x.dim() == 3 else x)
    pred = int(out.argmax(dim=1)[0])
    lo = float(min(h1.min(), h2.min()))
    lo = -1.0 if lo < 0 else 0.0                 # tanh maps span [-1, 1], ReLU maps start at 0
    hi = max(float(max(h1.max(), h2.max())), 1e-6) if lo == 0 else 1.0
    maps = max(h1.shape[1], h2.shape[1])        # 12 for the paper's net; more for a wider one
    fig = _figure(12 * max(1.0, maps / H1_MAPS) ** 0.5, 2.9)
    gs = fig.add_gridspec(2, maps + 2, width_ratios=[2.2, 0.3] + [1] * maps)
    ax = fig.add_subplot(gs[:, 0])
    ax.imshow(x.reshape(IMAGE, IMAGE).numpy(), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_title(f"input {IMAGE}x{IMAGE}\ntrue {label}, predicted {pred}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    for row, (h, side, name) in enumerate(((h1, H1_SIDE, "H1"), (h2, H2_SIDE, "H2"))):
        for i in range(h.shape[1]):
            a = fig.add_subplot(gs[row, i + 2])
            a.imshow(h[0, i].numpy(), cmap="gray_r", vmin=lo, vmax=hi, interpolation="nearest")
            a.set_xticks([])
            a.set_yticks([])
            if i == 0:
                a.set_ylabel(f"{name}\n{side}x{side}", fontsize=9)
            a.set_title(f"{name}.{i}", fontsize=7)
    fig.suptitle(f"Feature maps of test digit 0 (dark = high activity; scale {lo:g} to {hi:.3g})", fontsize=10)
    return fig


def fig_size(points: list[dict]):
    """Test misses against multiply-adds per digit (log scale): one line per recipe (its nets of
    increasing width), each point the mean over seeds with its 95% interval; the points of the
    group "tricks" (training changes that keep the paper's net) are drawn at their one cost, as a
    column of labelled markers. A point: {label, group, macs, mean, half, us (or None)}."""
    from matplotlib.ticker import FuncFormatter
    fig = _figure(7.0, 4.8, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    colours = {"1989 recipe (a0)": "#1f77b4", "modern recipe (a4)": "#d62728"}
    groups: dict[str, list[dict]] = {}
    for pt in points:
        groups.setdefault(pt["group"], []).append(pt)
    for group, pts in groups.items():
        pts = sorted(pts, key=lambda p: p["macs"])
        x = [p["macs"] for p in pts]
        y = [p["mean"] for p in pts]
        yerr = [p["half"] or 0.0 for p in pts]
        if group == "tricks":
            ax.errorbar(x, y, yerr=yerr, fmt="s", color="#7f7f7f", ms=5, capsize=3, lw=1,
                        label="training tricks at the paper's size (anchor's a1-a3)")
            for p in pts:
                ax.annotate(p["label"], (p["macs"], p["mean"]), xytext=(-8, 0), textcoords="offset points",
                            ha="right", va="center", fontsize=8, color="#555555")
            continue
        c = colours.get(group, None)
        ax.errorbar(x, y, yerr=yerr, fmt="o-", color=c, ms=5, capsize=3, lw=1.5, label=group)
        for p in pts:
            us = f", {p['us']:.1f} us" if p.get("us") is not None else ""
            ax.annotate(f"{p['label']}{us}", (p["macs"], p["mean"]), xytext=(6, 6), textcoords="offset points",
                        fontsize=8, color=c)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    xs = [p["macs"] for p in points]
    ax.set_xlim(min(xs) / 1.6, max(xs) * 1.8)
    ax.set_xticks(sorted(set(xs)))
    ax.set_xlabel("multiply-adds per digit at inference (log scale)")
    ax.set_ylabel("test misses (of 2007), mean and 95% interval")
    ax.set_title("What a bigger net buys: test misses against inference cost")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def size_points(rows: list, inference: dict | None) -> list[dict]:
    """fig_size's points from a size ladder's rows (stats.StepStats): the 1989 recipe's widths
    (s1, s2, s4), the modern recipe's (s1a4, s2a4, s4a4) and the tricks between (s1a1-s1a3);
    us: the fast engine's batched microseconds per digit (inference.py), when measured."""
    from scipy import stats as sst
    inf = (inference or {}).get("steps", {})
    out = []
    for r in rows:
        name = r.preset
        if not r.misses or not name.startswith("s"):
            continue
        group = ("modern recipe (a4)" if name.endswith("a4") else "tricks" if "a" in name[2:]
                 else "1989 recipe (a0)")
        y = np.array(list(r.misses.values()), dtype=float)
        half = float(sst.t.ppf(0.975, y.size - 1) * y.std(ddof=1) / np.sqrt(y.size)) if y.size > 1 else None
        m = inf.get(name)
        width = name[1] if group != "tricks" else "1"
        label = (f"x{width}" if group != "tricks" else name[2:])
        out.append({"label": label, "group": group, "macs": r.macs_per_digit, "mean": float(y.mean()),
                    "half": half, "us": m["us_per_digit"]["fast_batched"] if m else None})
    return out
