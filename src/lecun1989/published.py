"""Every published figure lecun1989 compares against, each with its source (docs/reference.md).

Tables, reports, the commands' closing lines and the scripts read their figures from here; none
writes a published number of its own. Plain Python with no imports from the package (config.py
reads the ladder's figures from here without loading torch).

Sources:
- ``paper``: Y. LeCun et al., "Backpropagation Applied to Handwritten Zip Code Recognition",
  Neural Computation 1(4):541-551, 1989 (USPS zip-code digits, 7291 train / 2007 test).
- ``anchor``: the anchor reproduction (a public PyTorch script, 2022), its README's ladder.
- ``learner``: a published walk-through (2023) that re-walked the anchor's ladder step by step.
- figures measured on this project's machine with the anchor's scripts: the logs in reference/.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCES = {
    "paper": "LeCun et al. 1989, Neural Computation 1(4):541-551 (USPS zip-code digits)",
    "anchor": "the anchor reproduction (2022), its README's ladder",
    "learner": "a published walk-through of the anchor's ladder (2023), its pass-23 lines",
}


@dataclass(frozen=True)
class SingleRun:
    """One published run: errors in percent as printed, and the misses behind them."""

    label: str
    source: str
    train_error: float              # percent
    train_misses: int
    test_error: float               # percent
    test_misses: int
    reject_1pct: float | None = None  # fraction of test digits rejected for 1% error on the rest

    def reject_text(self) -> str:
        return "-" if self.reject_1pct is None else f"{100 * self.reject_1pct:.1f}%"


# After 23 passes: "0.14% (10 misses)" on training, "5.00% (102 misses)" on test; "The percentage
# rejection was then 12.1% for 1% classification error on the remaining test patterns."
PAPER = SingleRun("paper (LeCun et al. 1989, USPS, 23 passes)", SOURCES["paper"], 0.14, 10, 5.00, 102, 0.121)
PAPER_TRAIN_MSE = 2.5e-3            # mean over the 10 outputs, as metrics.py's loss of the tanh head
PAPER_TEST_MSE = 1.8e-2
ANCHOR = SingleRun("anchor reproduction (2022, M1 CPU)", SOURCES["anchor"], 0.62, 45, 4.09, 82)
ANCHOR_HERE = SingleRun("anchor script on this project's machine",
                        "reference/anchor-repro-train-first.log (torch 2.13)", 0.88, 63, 3.79, 76)

# The share of test digits the paper rejects for 1% error on the rest.
PAPER_REJECTION = PAPER.reject_1pct


def figures(source: str, train: str, test: str, misses: int, pass_number: int | None = None, **extra) -> dict:
    """A ladder step's published figures as the presets and results.json hold them: the printed
    train and test lines, the test misses, and (for steps reported at several passes) the pass."""
    d = {"source": source, "train": train, "test": test, "test_misses": misses}
    if pass_number is not None:
        d["pass"] = pass_number
    return {**d, **extra}


def at_pass(train: str, test: str, misses: int) -> dict:
    """The figures of one pass of a multi-pass step (`{"source", "by_pass": {pass: at_pass(...)}}`)."""
    return {"train": train, "test": test, "test_misses": misses}


# The paper's figures as a ladder step holds them (beside every p* step): errors and misses,
# the MSEs and the share rejected for 1% error.
PAPER_1989 = {"source": "paper", "train": f"{PAPER.train_error:.2f}% ({PAPER.train_misses})",
              "test": f"{PAPER.test_error:.2f}% ({PAPER.test_misses})", "test_misses": PAPER.test_misses,
              "train_misses": PAPER.train_misses, "train_mse": PAPER_TRAIN_MSE, "test_mse": PAPER_TEST_MSE,
              "reject_1pct": PAPER.reject_1pct}

_STAR = {"note": "misses as published; train figure on a different split size"}

# The published figures of each ladder step (docs/reference.md): the anchor's table for a* and
# d*, the learner's for l*, the paper's for p*.
LADDER = {
    "a0": figures("anchor", "0.62% (45)", "4.09% (82)", 82),
    "a1": figures("anchor", "0.00% (0)", "4.38% (87)", 87),
    "a2": figures("anchor", "0.00% (0)", "3.59% (72)", 72),
    "a3": figures("anchor", "1.70% (123)", "2.19% (43)", 43),
    "a4": figures("anchor", "1.47% (106)", "1.59% (32)", 32),
    "l0": figures("learner", "0.60% (44)", "4.19% (84)", 84),
    "l1": figures("learner", "0.93% (67)", "3.84% (77)", 77),
    "l2": figures("learner", "0.45% (32)", "3.94% (79)", 79),
    "l3": figures("learner", "0.14% (10)", "3.24% (64)", 64),
    "l4": figures("learner", "0.60% (44)", "3.44% (69)", 69),
    "l5": figures("learner", "1.98% (143)", "2.69% (53)", 53),
    "l5b": figures("learner", "2.43% (177)", "2.49% (49)", 49),
    "l6a": {"source": "learner", "by_pass": {57: at_pass("0.45% (32)", "3.94% (79)", 79)}},
    "l6b": {"source": "learner", "by_pass": {57: at_pass("1.62% (118)", "1.84% (37)", 37),
                                             71: at_pass("1.39% (100)", "1.59% (32)", 32)}},
    "d5": figures("anchor", "1.07% (31)", "1.25% (24)", 24, **_STAR),
    "d6": figures("anchor", "2.03% (60)", "2.74% (54)", 54, **_STAR),
    **{p: dict(PAPER_1989) for p in ("p0", "p1", "p2", "p3", "p4")},
}


# Further published single runs of a step, beside each preset's own published figure, placed
# among our seeds by the ladder: (step, pass, who, true test misses, printed misses if different,
# note). True counts are round(error% x 2007).
OTHER_RUNS: tuple[tuple[str, int, str, int, int | None, str], ...] = (
    ("a0", 23, "anchor script on this kind of machine (torch 2.13)", 76, None, "reference/anchor-repro-train-first.log"),
    ("a0", 23, "anchor script rerun by others (torch 1.11)", 71, None, "3.54%"),
    ("a0", 23, "MLX port", 67, None, "3.34%; assumes the anchor's train-first data"),
    ("a0", 23, "C++ port", 97, None, "4.83%; assumes the anchor's train-first data"),
    ("l0", 23, "anchor script on this kind of machine, test-first (torch 2.13)", 84, None, ""),
    ("a4", 80, "anchor modern script on this kind of machine (torch 2.13)", 39, 38,
     "1.94%; reference/anchor-modern-train-first-80.log"),
    ("a4", 80, "anchor modern script rerun by others (torch 1.11)", 40, 39, "1.99%"),
    ("l6b", 57, "anchor modern script on this kind of machine, test-first (torch 2.13)", 45, 44,
     "2.24%; reference/anchor-modern-test-first-80.log"),
    ("l6b", 71, "anchor modern script on this kind of machine, test-first (torch 2.13)", 34, 33, "1.69%"),
    ("l6b", 80, "anchor modern script on this kind of machine, test-first (torch 2.13)", 34, 33, "1.69%"),
    ("l6b", 80, "course notebook (test-first, eval loss fixed)", 42, None, "2.09%"),
)
