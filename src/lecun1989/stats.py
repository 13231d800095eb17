"""Statistics over seeds, and how they are written: the one place for both.

A ladder step is trained over n seeds; its statistics travel as one `StepStats` (n, means, sds,
the per-seed test misses, the change against its base with the test used, where published single
runs fall among the seeds, what the step costs), with one `to_json` / `from_json`, read by the
tables, the CSV, the report and the docs.

The change of a step against its base (`Delta`):
- paired t over seeds when both steps ran the same seeds (a seed gives both steps the same
  initial weights and, with the same random-stream family, related streams; the pairs are
  matched by construction, so the paired test is valid whatever their correlation), Welch's
  unpaired t otherwise (different seeds, or seeds missing on one side). The correlation of the
  pairs and the ratio of the paired to the unpaired standard error are kept, so that one can see
  whether the pairing made the comparison less noisy.
- many steps are compared at once: the verdict uses Holm's step-down correction over the steps
  of one ladder (family-wise error 5%), the intervals are plain 95% intervals.
- the verdict, in words: "-14.2 ± 3.1 misses" when the Holm-corrected test rejects no change,
  else "no effect larger than X misses", X the end of the 95% interval farthest from zero.

scipy.stats does the distributions and tests; Holm's correction (ten lines) is written here
because scipy has none and statsmodels, which has, brings pandas and patsy with it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Sequence

import numpy as np

LEVEL = 0.95            # interval level
ALPHA = 0.05            # family-wise error rate of the verdicts (Holm over a ladder's steps)


# -- mean, sd, formatting ------------------------------------------------------------------------
def mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1) of the values present (None skipped); sd is None
    for fewer than two values, both None for none."""
    v = [float(x) for x in values if x is not None]
    if not v:
        return None, None
    m = math.fsum(v) / len(v)
    if len(v) < 2:
        return m, None
    return m, math.sqrt(math.fsum((x - m) ** 2 for x in v) / (len(v) - 1))


def pm(mean: float | None, sd: float | None, *, pct: bool = False, digits: int = 2, sci: bool = False) -> str:
    """'4.08 ± 0.23%' (pct: fractions shown as percent), '6.2e-03 ± 1.5e-03' (sci), '-' for none."""
    if mean is None:
        return "-"
    k = 100.0 if pct else 1.0
    unit = "%" if pct else ""
    if sci:
        return f"{mean:.2e}" if sd is None else f"{mean:.2e} ± {sd:.1e}"
    if sd is None:
        return f"{k * mean:.{digits}f}{unit}"
    return f"{k * mean:.{digits}f} ± {k * sd:.{digits}f}{unit}"


def true_misses(error_pct: float, n: int) -> int:
    """The miss count behind a printed error rate (the anchor's scripts print int(err * N),
    which can be one below it; docs/reference.md)."""
    return int(round(error_pct / 100.0 * n))


# -- the change against the base ------------------------------------------------------------------
@dataclass(frozen=True)
class Delta:
    base: str                    # the row compared with
    test: str                    # "paired t" | "Welch t"
    n: int                       # pairs (paired) or the smaller side (Welch)
    diff: float                  # mean misses of this row minus the base's
    low: float                   # 95% interval of diff
    high: float
    p: float                     # two-sided p of no change
    p_holm: float | None = None  # Holm-adjusted over the ladder's rows with a delta
    corr: float | None = None    # Pearson correlation of the paired per-seed misses
    se_ratio: float | None = None  # standard error paired / unpaired (< 1: pairing helps)
    # robust to a few failed seeds (a heavy tail makes the t interval wide): the median of the
    # per-seed differences (paired) or of all cross differences (Welch), and a rank test
    median_diff: float | None = None
    p_rank: float | None = None  # Wilcoxon signed-rank (paired) or Mann-Whitney U (Welch), two-sided

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def significant(self) -> bool:
        p = self.p_holm if self.p_holm is not None else self.p
        return p < ALPHA

    def verdict(self) -> str:
        if self.significant:
            return f"{self.diff:+.1f} ± {self.half_width:.1f} misses"
        return f"no effect larger than {max(abs(self.low), abs(self.high)):.0f} misses"


def _interval(mean: float, se: float, df: float) -> tuple[float, float, float]:
    from scipy import stats
    if se == 0:
        return mean, mean, (1.0 if mean == 0 else 0.0)
    half = stats.t.ppf(0.5 + LEVEL / 2, df) * se
    p = 2 * stats.t.sf(abs(mean) / se, df)
    return float(mean - half), float(mean + half), float(p)


def compare(base: dict[int, float], this: dict[int, float], base_label: str) -> Delta | None:
    """The change of mean misses from `base` to `this` (per-seed values keyed by seed). Paired
    over the seeds when both have the same seeds, Welch otherwise; None with fewer than 2 a side."""
    from scipy import stats
    a, b = list(base.values()), list(this.values())
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)
    se_unpaired = math.sqrt(va / len(a) + vb / len(b))
    if set(base) == set(this):
        seeds = sorted(base)
        d = np.array([this[s] - base[s] for s in seeds], dtype=np.float64)
        n = len(d)
        se = float(d.std(ddof=1) / math.sqrt(n))
        low, high, p = _interval(float(d.mean()), se, n - 1)
        x, y = np.array([base[s] for s in seeds]), np.array([this[s] for s in seeds])
        corr = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else None
        p_rank = float(stats.wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
        return Delta(base_label, "paired t", n, float(d.mean()), low, high, p, corr=corr,
                     se_ratio=se / se_unpaired if se_unpaired > 0 else None,
                     median_diff=float(np.median(d)), p_rank=p_rank)
    diff = float(np.mean(b) - np.mean(a))
    if se_unpaired == 0:
        df = 1.0
    else:
        df = (va / len(a) + vb / len(b)) ** 2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    low, high, p = _interval(diff, se_unpaired, max(df, 1.0))
    cross = np.subtract.outer(np.asarray(b, float), np.asarray(a, float))
    p_rank = float(stats.mannwhitneyu(b, a, alternative="two-sided").pvalue)
    return Delta(base_label, "Welch t", min(len(a), len(b)), diff, low, high, p, se_ratio=1.0,
                 median_diff=float(np.median(cross)), p_rank=p_rank)


def holm(p: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979): the k-th smallest of m p-values times
    (m - k + 1), made non-decreasing, capped at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return out


# -- a published single run among our seeds -------------------------------------------------------
@dataclass(frozen=True)
class Placement:
    source: str                  # who published it
    misses: int                  # the true count (from the error rate)
    printed: int | None          # the count as printed, if it differs
    percentile: float            # share of our seeds with fewer misses, ties counted half (0-100)
    verdict: str                 # lucky (below our 5th percentile) | typical | unlucky (above the 95th)
    note: str = ""

    def text(self) -> str:
        pr = f" (printed {self.printed})" if self.printed is not None and self.printed != self.misses else ""
        return f"{self.source}: {self.misses}{pr}, percentile {self.percentile:.0f}: {self.verdict}"


def place(ours: Sequence[float], misses: int, source: str, printed: int | None = None, note: str = "") -> Placement:
    from scipy import stats
    pct = float(stats.percentileofscore(list(ours), misses, kind="mean"))
    verdict = "lucky" if pct < 5 else "unlucky" if pct > 95 else "typical"
    return Placement(source, misses, printed, pct, verdict, note)


# -- two families of runs of one step (e.g. our random streams against the anchor's) -------------
@dataclass(frozen=True)
class TwoSample:
    label: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    diff: float                  # mean b - mean a, Welch 95% interval
    low: float
    high: float
    p_welch: float
    p_mannwhitney: float         # two-sided Mann-Whitney U (no normality assumed)

    def to_json(self) -> dict:
        return asdict(self)


def two_sample(a: Sequence[float], b: Sequence[float], label: str) -> TwoSample:
    from scipy import stats
    d = compare(dict(enumerate(a)), {i + len(a): v for i, v in enumerate(b)}, label)   # disjoint keys: Welch
    u = stats.mannwhitneyu(list(a), list(b), alternative="two-sided")
    return TwoSample(label, len(a), len(b), float(np.mean(a)), float(np.mean(b)), d.diff, d.low, d.high,
                     d.p, float(u.pvalue))


# -- one row of a ladder ---------------------------------------------------------------------------
@dataclass
class StepStats:
    """A step at one reported pass, over its seeds."""

    step: str                               # row label: "a3", or "l6b@57" for a multi-pass step
    preset: str
    change: str = ""
    why: str = ""
    passes: int = 0                         # passes of the schedule
    report_pass: int = 0
    n: int = 0                              # seeds counted
    train_digits: int | None = None
    test_digits: int | None = None
    misses: dict[int, int] = field(default_factory=dict)      # seed -> test misses
    train_error_mean: float | None = None
    train_error_sd: float | None = None
    test_error_mean: float | None = None
    test_error_sd: float | None = None
    test_misses_mean: float | None = None
    test_misses_sd: float | None = None
    test_misses_min: int | None = None
    test_misses_max: int | None = None
    loss: str = "mse"                       # mse (tanh head) | cross-entropy
    train_loss_mean: float | None = None
    train_loss_sd: float | None = None
    test_loss_mean: float | None = None
    test_loss_sd: float | None = None
    test_reject_1pct_mean: float | None = None
    test_reject_1pct_sd: float | None = None
    test_reject_1pct_n: int = 0
    published: dict = field(default_factory=dict)
    base: str | None = None
    delta: Delta | None = None
    placements: list[Placement] = field(default_factory=list)
    train_digit_passes: int = 0             # training cost: passes trained x training digits
    run_seconds_mean: float | None = None   # measured seconds per run (engine, machine in provenance)
    macs_per_digit: int = 0                 # inference cost
    diverged: int = 0
    diverged_at: list[int] = field(default_factory=list)
    missing: int = 0
    config: dict = field(default_factory=dict)
    config_hash: str = ""
    runs: list[dict] = field(default_factory=list)

    # views kept for readers of the flat results.json (tables, CSV, report)
    @property
    def mse(self) -> bool:
        return self.loss == "mse"

    def to_json(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["misses"] = {str(k): v for k, v in self.misses.items()}
        d["delta"] = asdict(self.delta) if self.delta else None
        d["placements"] = [asdict(p) for p in self.placements]
        # flat keys of the earlier format, so that older readers and the CSV keep working
        d["delta_misses"] = self.delta.diff if self.delta else None
        d["delta_ci95"] = [self.delta.low, self.delta.high] if self.delta else None
        d["delta_test"] = self.delta.test if self.delta else None
        d["delta_p_holm"] = self.delta.p_holm if self.delta else None
        d["larger_than_noise"] = self.delta.significant if self.delta else None
        d["verdict"] = self.delta.verdict() if self.delta else None
        for k in ("train", "test"):
            d[f"{k}_mse_mean"] = d[f"{k}_loss_mean"] if self.mse else None
            d[f"{k}_mse_sd"] = d[f"{k}_loss_sd"] if self.mse else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "StepStats":
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw.setdefault("preset", d.get("step", "?"))
        kw["misses"] = {int(k): v for k, v in (d.get("misses") or {}).items()}
        if not kw["misses"]:        # results written before the per-seed map: from the runs
            kw["misses"] = {r["seed"]: r["test_misses"] for r in d.get("runs", [])
                            if r.get("test_misses") is not None}
        delta = d.get("delta")
        if isinstance(delta, dict):
            kw["delta"] = Delta(**delta)
        elif d.get("delta_misses") is not None and d.get("delta_ci95"):
            lo, hi = d["delta_ci95"]
            kw["delta"] = Delta(d.get("base") or "?", d.get("delta_test") or "Welch t", kw.get("n", 0),
                                d["delta_misses"], lo, hi, 0.0 if d.get("larger_than_noise") else 1.0)
        else:
            kw["delta"] = None
        kw["placements"] = [Placement(**p) for p in d.get("placements") or []]
        return cls(**kw)


def apply_holm(rows: list[StepStats]) -> None:
    """Holm-adjust the p-values of every row's delta, in place (one family: these rows)."""
    with_delta = [r for r in rows if r.delta is not None]
    adjusted = holm([r.delta.p for r in with_delta])
    for r, p in zip(with_delta, adjusted):
        r.delta = Delta(**{**asdict(r.delta), "p_holm": p})


def seeds_for_half_width(sd_diff: float, half_width: float, level: float = LEVEL) -> int:
    """The fewest seeds n for a paired interval of half-width `half_width` when per-seed
    differences have sd `sd_diff`: the smallest n >= 2 with t(n - 1) sd / sqrt(n) <= half_width.
    (The half-width falls as n grows, so the first n that reaches it is the answer; iterating n
    = need(n) from n = 2 would overshoot, since t with 1 df is 12.7.)"""
    from scipy import stats
    if sd_diff <= 0:
        return 2
    # the normal quantile gives a lower bound (t is wider), so start there
    n = max(2, math.ceil((stats.norm.ppf(0.5 + level / 2) * sd_diff / half_width) ** 2))
    while stats.t.ppf(0.5 + level / 2, n - 1) * sd_diff / math.sqrt(n) > half_width:
        n += 1
    return n
