"""Command line: argument parsing only; every command calls one function of the other modules.

Exit codes: 0 success, 1 a run-time failure (bad data file, diverged run), 2 invalid usage
(checked before any work starts), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

from . import __version__
from .config import ACTIVATIONS, DATASETS, ENGINES, HEADS, OPTIMIZERS, SCHEDULES, Config, ConfigError

DEFAULTS = Config()


# -- value parsers: one-line errors through argparse (exit 2) ----------------------------------
def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}")
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {s}")
    return v


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}")
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {s}")
    return v


def _nonneg_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}")
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {s}")
    return v


def _probability(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}")
    if not (0.0 <= v < 1.0):
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {s}")
    return v


def _seed(s: str) -> int:
    v = _nonneg_int(s)
    if v >= 2**32:
        raise argparse.ArgumentTypeError(f"must be below 2**32, got {s}")
    return v


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", metavar="DIR", default=None,
                   help="folder holding mnist/ and usps/ (default: $LECUN1989_DATA, else the per-user cache)")


def _add_run_options(p: argparse.ArgumentParser, *, full: bool) -> None:
    d = DEFAULTS
    p.add_argument("--engine", choices=ENGINES, default="fast",
                   help="fast: the compiled engine; torch: the reference PyTorch loop (default: %(default)s)")
    p.add_argument("--seed", type=_seed, default=d.seed, help="run seed (default: %(default)s)")
    p.add_argument("--passes", type=_positive_int, default=d.passes, help="passes over the training digits (default: %(default)s)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="run folder for config.json, metrics.jsonl, checkpoint.pt (default: none for repro, runs/<config hash> for train)")
    if not full:
        p.add_argument("--data", choices=DATASETS, default=d.data, help="data set (default: %(default)s)")
        return
    p.add_argument("--data", choices=DATASETS, default=d.data, help="data set (default: %(default)s)")
    p.add_argument("--train-size", type=_nonneg_int, default=d.train_size,
                   help="number of training digits, 0 = the whole split (default: %(default)s)")
    p.add_argument("--activation", choices=ACTIVATIONS, default=d.activation, help="hidden units (default: %(default)s)")
    p.add_argument("--head", choices=HEADS, default=d.head,
                   help="tanh: MSE on +-1 targets; linear: softmax cross-entropy (default: %(default)s)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="(default: %(default)s)")
    p.add_argument("--lr", type=_positive_float, default=d.lr, help="learning rate (default: %(default)s)")
    p.add_argument("--schedule", choices=SCHEDULES, default=d.schedule,
                   help="constant, or linear from lr down to lr/3 over the passes (default: %(default)s)")
    p.add_argument("--dropout", type=_probability, default=d.dropout,
                   help="dropout probability before H3, 0 = off (default: %(default)s)")
    p.add_argument("--shift", action="store_true", default=d.shift,
                   help="shift augmentation: up to 1 px in x and y with wrap-around (default: off)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lecun1989",
        description="LeCun et al. 1989 (handwritten zip codes) reproduced, and its modernisation.")
    parser.add_argument("--version", action="version", version=f"lecun1989 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("repro", help="the faithful 1989 run, with a table against the paper and the anchor",
                       description="The faithful 1989 run (the anchor's defaults) on the embedded data, "
                                   "pass by pass, ending with a table against the paper and the published reproduction.")
    _add_run_options(p, full=False)
    _add_common(p)

    p = sub.add_parser("train", help="one run with every option as a flag",
                       description="Train one run; every option of the config is a flag.")
    _add_run_options(p, full=True)
    _add_common(p)

    p = sub.add_parser("data", help="list, fetch or verify data sets")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.required = True
    q = dsub.add_parser("list", help="what is available and where it is")
    _add_common(q)
    q = dsub.add_parser("fetch", help="download (if needed) and verify a data set")
    q.add_argument("name", choices=DATASETS)
    _add_common(q)
    q = dsub.add_parser("verify", help="check every present file against its checksum")
    _add_common(q)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    fields = ("data", "train_size", "activation", "head", "dropout", "optimizer", "lr",
              "schedule", "shift", "passes", "seed")
    return Config(**{f: getattr(args, f) for f in fields if hasattr(args, f)})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args) if args.command in ("repro", "train") else None
    except ConfigError as e:
        parser.error(str(e))
    from .data import DataError
    try:
        if args.command == "repro":
            from .repro import repro
            return repro(cfg, engine=args.engine, data_root=args.data_root, out=args.out)
        if args.command == "train":
            from .repro import train_one
            out = args.out or os.path.join("runs", f"{cfg.data}-{cfg.hash()}")
            return train_one(cfg, engine=args.engine, data_root=args.data_root, out=out)
        if args.command == "data":
            from .repro import data_command
            return data_command(args.data_command, getattr(args, "name", None), args.data_root)
    except DataError as e:
        print(f"lecun1989: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lecun1989: interrupted", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
