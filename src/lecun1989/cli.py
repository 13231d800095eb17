"""Command line: argument parsing only; every command calls one function of the other modules.

Exit codes: 0 success, 1 a run-time failure (bad data file, diverged run), 2 invalid usage
(checked before any work starts), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import dataclasses
import os
import sys

from . import __version__, activations
from .config import (DEFAULT_LR, ACTIVATIONS, DATASETS, ENGINES, HEADS, MSE_NORMS, OPTIMIZERS, RNGS, SCHEDULES,
                     Config, ConfigError)
from .geometry import H2_SCHEMES, INITS

DEFAULTS = Config()


# -- value parsers: one-line errors through argparse (exit 2) ----------------------------------
def _value(kind: type, ok, need: str):
    """An argparse type: parse with `kind`, then check `ok`; both failures are one-line errors."""
    def parse(s: str):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {'an integer' if kind is int else 'a number'}: {s!r}")
        if not ok(v):
            raise argparse.ArgumentTypeError(f"must be {need}, got {s}")
        return v
    return parse


_positive_float = _value(float, lambda v: 0 < v < float("inf"), "a positive number")
_positive_int = _value(int, lambda v: v >= 1, "at least 1")
_nonneg_int = _value(int, lambda v: v >= 0, ">= 0")
_probability = _value(float, lambda v: 0.0 <= v < 1.0, "in [0, 1)")
_seed = _value(int, lambda v: 0 <= v < 2**32, "in [0, 2**32)")


def _seeds_text(s: str) -> str:
    # checked here for the message; expanded in main(), where --seed (the first seed) is known
    from .ladder import parse_seeds
    try:
        parse_seeds(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))
    return s


def _override(s: str) -> tuple[str, object]:
    """KEY=VALUE for a Config field, typed by the field."""
    key, sep, value = s.partition("=")
    types = {f.name: f.type for f in dataclasses.fields(Config)}
    if not sep or key not in types:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY one of {', '.join(types)}, got {s!r}")
    try:
        if types[key] == "bool":
            if value not in ("true", "false", "1", "0"):
                raise ValueError
            return key, value in ("true", "1")
        return key, {"int": int, "float": float, "str": str}[types[key]](value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key} must be {types[key]}, got {value!r}")


def _add_parallel(p: argparse.ArgumentParser, *, seeds_default: str, what: str) -> None:
    p.add_argument("--seeds", type=_seeds_text, default=seeds_default, metavar="N|S1,S2",
                   help=f"a count (seeds counting up from --seed) or a comma-separated list of seeds; {what} "
                        "(default: %(default)s)")
    p.add_argument("--jobs", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
                   help="runs trained at once, one single-threaded process each (default: %(default)s, the cores)")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", metavar="DIR", default=None,
                   help="folder holding mnist/ and usps/ (default: $LECUN1989_DATA, else the per-user cache)")


_RNG_HELP = ("where shifts and dropout masks come from - ours: a stream per (seed, pass); anchor: drawn "
             "as the anchor's scripts draw them after torch.manual_seed(seed) and np.random.seed(seed), "
             "for line-by-line comparison with them (default: %(default)s)")


_ENGINE_HELP = ("fast: the compiled engine; torch: the reference PyTorch loop; lockstep: the seeds of one "
                "config trained together, one per vector lane (16 with AVX-512): about 2.5x the fast "
                "engine's throughput per core; its own float rounding, so its runs have their own ids "
                "(default: %(default)s)")


def _add_run_options(p: argparse.ArgumentParser, *, full: bool) -> None:
    d = DEFAULTS
    p.add_argument("--engine", choices=ENGINES, default="fast",
                   help=_ENGINE_HELP)
    p.add_argument("--seed", type=_seed, default=d.seed, help="run seed (default: %(default)s)")
    p.add_argument("--passes", type=_positive_int, default=d.passes, help="passes over the training digits (default: %(default)s)")
    p.add_argument("--stop-after", type=_nonneg_int, default=d.stop_after, metavar="K",
                   help="train only the first K passes of the --passes schedule (the learning rate still "
                        "decays over --passes); 0 = all passes (default: %(default)s)")
    p.add_argument("--rng", choices=RNGS, default=d.rng, help=_RNG_HELP)
    p.add_argument("--out", metavar="DIR", default=None,
                   help="one seed: the run folder for config.json, metrics.jsonl, checkpoint.pt; several seeds: "
                        "a folder of runs/<run id>/ and results.{json,md,csv} (default: none for repro, "
                        "runs/<data>-<config hash> for train, runs/seeds-<data>-<config hash> for train --seeds)")
    if not full:
        p.add_argument("--data", choices=DATASETS, default=d.data, help="data set (default: %(default)s)")
        return
    p.add_argument("--data", choices=DATASETS, default=d.data, help="data set (default: %(default)s)")
    p.add_argument("--train-size", type=_nonneg_int, default=d.train_size,
                   help="number of training digits, 0 = the whole split (default: %(default)s)")
    p.add_argument("--activation", choices=ACTIVATIONS, default=d.activation,
                   help=f"hidden units, {activations.help_text()} (default: %(default)s)")
    p.add_argument("--head", choices=HEADS, default=d.head,
                   help="tanh: MSE on +-1 targets; linear: softmax cross-entropy (default: %(default)s)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="(default: %(default)s)")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (sdlm: its eps); default by optimizer: "
                        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()))
    p.add_argument("--sdlm-mu", type=_positive_float, default=d.sdlm_mu,
                   help="sdlm: mu in eps / (mu + h) (default: %(default)s)")
    p.add_argument("--sdlm-sample", type=_positive_int, default=d.sdlm_sample,
                   help="sdlm: digits for the Hessian-diagonal estimate before each pass (default: %(default)s)")
    p.add_argument("--sdlm-running", type=_probability, default=d.sdlm_running,
                   help="sdlm: > 0 also updates the estimate after every digit, h <- (1-g) h + g h_digit (default: %(default)s)")
    p.add_argument("--schedule", choices=SCHEDULES, default=d.schedule,
                   help="constant; linear from lr down to lr/3 over the passes; lenet5: LeNet-5's decreasing "
                        "eps (x1 for 2 passes, x0.4 for 3, x0.2 for 3, x0.1 for 4, then x0.02) - the paper "
                        "gives no schedule (default: %(default)s)")
    # what the paper leaves unsaid (docs/paper.md): each default is the anchor's reading
    p.add_argument("--h2-scheme", choices=H2_SCHEMES, default=d.h2_scheme,
                   help="the H2 connection table, 8 of 12 H1 maps per H2 map (9,760 parameters each) - the paper "
                        "calls it 'a scheme that will not be discussed here': anchor = the anchor's blocks, "
                        "lenet5 = LeNet-5's C3 pattern adapted to 12 maps, random = seeded by --h2-seed "
                        "(default: %(default)s)")
    p.add_argument("--h2-seed", type=_nonneg_int, default=d.h2_seed,
                   help="seed of the random H2 table (default: %(default)s)")
    p.add_argument("--target", type=_positive_float, default=d.target,
                   help="tanh head: targets +-T - the paper puts them 'within the quasilinear range' without "
                        "a value; 1 is the tanh's asymptote, f(1) of the scaled tanh (default: %(default)s)")
    p.add_argument("--mse-norm", choices=MSE_NORMS, default=d.mse_norm,
                   help="tanh head: the training MSE's normalisation, mean over the 10 outputs, half the sum or "
                        "the sum - unpublished; it scales the gradient (like lr) and sdlm's curvature "
                        "(like 1/mu) (default: %(default)s)")
    p.add_argument("--init", choices=INITS, default=d.init,
                   help="initial weights U(+-2.4/sqrt(F)) (sqrt, the common reading) or U(+-2.4/F) (fanin, the "
                        "paper's text taken literally), F the fan-in (default: %(default)s)")
    # the net's widths (docs/size.md): the paper's by default; the H2 table scales with them
    p.add_argument("--h1-maps", type=_positive_int, default=d.h1_maps,
                   help="H1 feature maps, a multiple of 12 - the paper's 12; more maps, more first-layer "
                        "features at more inference cost (default: %(default)s)")
    p.add_argument("--h2-maps", type=_positive_int, default=d.h2_maps,
                   help="H2 feature maps, a multiple of 12, each seeing 2/3 of the H1 maps (the anchor's "
                        "blocks scaled: x2 = 24 maps each seeing 16 of 24) - the paper's 12 (default: %(default)s)")
    p.add_argument("--h3-units", type=_positive_int, default=d.h3_units,
                   help="H3 units, a multiple of 6 - the paper's 30; a wider classifier layer (default: %(default)s)")
    p.add_argument("--dropout", type=_probability, default=d.dropout,
                   help="dropout probability before H3, 0 = off (default: %(default)s)")
    p.add_argument("--shift", action="store_true", default=d.shift,
                   help="shift augmentation: up to 1 px in x and y with wrap-around (default: off)")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (with a pointer to --help), not the whole usage block; exit 2."""

    def error(self, message: str):
        self.exit(2, f"lecun1989: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lecun1989",
        description="LeCun et al. 1989 (handwritten zip codes) reproduced, and its modernisation.")
    parser.add_argument("--version", action="version", version=f"lecun1989 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("repro", help="the faithful 1989 run, with a table against the paper and the anchor",
                       description="The faithful 1989 run (the anchor's defaults) on the embedded data, "
                                   "pass by pass, ending with a table against the paper and the published reproduction.")
    _add_run_options(p, full=False)
    _add_parallel(p, seeds_default="5", what="1 = the single run, pass by pass")
    _add_common(p)

    p = sub.add_parser("train", help="one run with every option as a flag",
                       description="Train one run; every option of the config is a flag.")
    _add_run_options(p, full=True)
    _add_parallel(p, seeds_default="1", what="several run in parallel and report mean ± sd")
    _add_common(p)

    from .config import LADDERS
    names = ", ".join(f"{k} ({', '.join(v)})" for k, v in LADDERS.items())
    p = sub.add_parser("ladder", help="a modernisation ladder: every step x seed, mean ± sd beside the published figures",
                       description=f"Train every step of a published modernisation ladder over several seeds "
                                   f"(steps: {names}; all = every ladder), then print and write the table. "
                                   "Finished runs are kept and reused: re-running trains only what is missing.")
    p.add_argument("name", choices=(*LADDERS, "all"), help="the ladder")
    p.add_argument("--steps", metavar="S1,S2", default=None,
                   help="only these steps of the ladder, e.g. a0,a3 (default: all of them)")
    p.add_argument("--engine", choices=ENGINES, default="fast",
                   help=_ENGINE_HELP)
    p.add_argument("--seed", type=_seed, default=1337, help="first seed when --seeds is a count (default: %(default)s)")
    p.add_argument("--rng", choices=RNGS, default=DEFAULTS.rng, help=_RNG_HELP)
    _add_parallel(p, seeds_default="5", what="every step runs with every seed")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for runs/<run id>/ and results.{json,md,csv} (default: runs/ladder-NAME)")
    # Replaces config fields in every step, e.g. --override passes=2 --override train_size=200:
    # for tests and quick looks at the machinery, not for results.
    p.add_argument("--override", type=_override, action="append", default=[], metavar="KEY=VALUE",
                   help=argparse.SUPPRESS)
    _add_common(p)

    p = sub.add_parser("hunt", help="search what the paper leaves unsaid, on USPS validation digits (Optuna)",
                       description="Search the paper's unknowns (H2 table, targets, sdlm's eps, schedule, mu, "
                                   "sample, running estimate, init) with Optuna on the last 1000 USPS training "
                                   "digits (zip.test.gz is never read; it may be absent). The study is kept in "
                                   "OUT/study.db: re-running resumes it. Needs optuna (installed with the package). "
                                   "Then --confirm K re-trains the K best trials and p1/p2 on fresh seeds.")
    p.add_argument("--out", metavar="DIR", default="runs/hunt", help="study folder (default: %(default)s)")
    p.add_argument("--trials", type=_positive_int, default=200,
                   help="stop when the study holds this many finished trials, every session counted (default: %(default)s)")
    p.add_argument("--minutes", type=_positive_float, default=40.0,
                   help="stop starting trials after this many minutes in this session (default: %(default)s)")
    p.add_argument("--jobs", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
                   help="search processes (default: %(default)s, the cores)")
    p.add_argument("--seeds", type=_positive_int, default=3, help="seeds per trial, from 1337 (default: %(default)s)")
    p.add_argument("--passes", type=_positive_int, default=23, help="passes per run (default: %(default)s, the paper's)")
    p.add_argument("--confirm", type=_nonneg_int, default=0, metavar="K",
                   help="instead of searching: re-train the K best trials and p1, p2 on fresh seeds (default: off)")
    p.add_argument("--confirm-seeds", type=_positive_int, default=5, metavar="N",
                   help="fresh seeds for --confirm, from 2001 (default: %(default)s)")
    p.add_argument("--ablate", action="store_true",
                   help="with --confirm: then put each unknown of the chosen reading back to p2's value, one at a "
                        "time, on the same fresh seeds (validation only; writes ablation.json)")
    p.add_argument("--summary", action="store_true", help="only rewrite hunt.json, trials.csv and the figures")
    _add_common(p)

    p = sub.add_parser("data", help="list, fetch or verify data sets")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.required = True
    q = dsub.add_parser("list", help="what is available and where it is")
    _add_common(q)
    from .datasets import REGISTRY
    q = dsub.add_parser("fetch", help="download (if needed) and verify a data set",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="data sets (src/lecun1989/datasets.py):\n"
                        + "\n".join(f"  {d.name:<22s} {d.help}" for d in REGISTRY.values()))
    q.add_argument("name", choices=DATASETS)
    _add_common(q)
    q = dsub.add_parser("verify", help="check every present file against its checksum")
    _add_common(q)

    p = sub.add_parser("report", help="figures and one self-contained HTML page for a run or ladder folder",
                       description="Write PNG figures and report.html (figures embedded, no network needed) "
                                   "into DIR: learning curves, every misclassified test digit, confusion matrix, "
                                   "error versus rejection, H1 kernels, feature maps, results, configs, versions.")
    p.add_argument("dir", metavar="DIR", help="a run folder (metrics.jsonl) or a ladder folder (results.json)")
    _add_common(p)

    p = sub.add_parser("predict", help="read digits from your own images (PNG/JPEG)",
                       description="Predict the digit in each image: any size, colour or grey, dark ink on light "
                                   "paper or the reverse. Prints the digit and the top three scores per file "
                                   "(softmax probabilities for the modern net, tanh outputs for the 1989 net); "
                                   "exit 1 if any file could not be read.")
    p.add_argument("files", metavar="FILE", nargs="+", help="image files, one digit each")
    p.add_argument("--model", default="modern", metavar="1989|modern|PATH",
                   help="a shipped net, a checkpoint.pt or a run folder (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--show", metavar="DIR", default=None, help="write the 16x16 input the net saw, one PNG per file")

    p = sub.add_parser("demo", help="one HTML page: draw a digit and watch the nets' layers respond",
                       description="Write one self-contained HTML page (weights embedded, no network needed): "
                                   "draw a digit and see each net's 16x16 input, H1 and H2 maps, H3 units, outputs "
                                   "and top three, side by side, with a strip of test digits and the nets' provenance.")
    p.add_argument("--model", nargs="+", default=None, metavar="1989|modern|PATH",
                   help="up to 4 nets side by side: shipped nets, checkpoint.pt files or run folders "
                        "(default: 1989 modern)")
    p.add_argument("--out", metavar="FILE.html", default="demo.html", help="the page to write (default: %(default)s)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser (default: off)")
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    fields = ("data", "train_size", "activation", "head", "dropout", "optimizer", "lr",
              "schedule", "shift", "passes", "seed", "rng", "stop_after", "sdlm_mu", "sdlm_sample", "sdlm_running",
              "h2_scheme", "h2_seed", "target", "mse_norm", "init", "h1_maps", "h2_maps", "h3_units")
    values = {f: getattr(args, f) for f in fields if hasattr(args, f)}
    if values.get("lr", 0) is None:
        values["lr"] = DEFAULT_LR[values.get("optimizer", DEFAULTS.optimizer)]
    return Config(**values)


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time of the message (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def _needs_root(cfgs: list[Config]) -> bool:
    from .datasets import get
    return any(get(c.data).downloaded for c in cfgs)


def _check(args: argparse.Namespace) -> dict:
    """Every option checked against the others, the data and the file system before any work;
    a problem is a usage error (one line, exit 2). Returns what the command needs."""
    from . import store
    from .train import check_train_size
    plan: dict = {}
    try:
        cfgs: list[Config] = []
        if args.command in ("repro", "train"):
            plan["cfg"] = config_from_args(args)
            cfgs.append(plan["cfg"])
        if args.command in ("repro", "train", "ladder"):
            from .ladder import parse_seeds
            plan["seeds"] = parse_seeds(args.seeds, first=args.seed)
        if args.command == "ladder":
            from .ladder import apply_override, ladder_steps
            steps = [s.strip() for s in args.steps.split(",") if s.strip()] if args.steps else None
            presets = ladder_steps(args.name, steps)
            plan["steps"], plan["override"] = steps, dict(args.override)
            if args.rng != DEFAULTS.rng:
                plan["override"].setdefault("rng", args.rng)
            cfgs += [apply_override(p, plan["override"]).config for p in presets]
        for cfg in cfgs:
            check_train_size(cfg)
        root = getattr(args, "data_root", None)
        if root and not os.path.isdir(root) and (_needs_root(cfgs) or getattr(args, "data_command", "") == "fetch"):
            _usage_error(args, f"--data-root {root}: no such folder (the folder holding mnist/ and usps/; "
                         "LECUN1989_DATA sets the default)")
        if args.command == "train" and len(plan["seeds"]) == 1:
            cfg = plan["cfg"] = plan["cfg"].with_overrides(seed=plan["seeds"][0])
            plan["out"] = args.out or os.path.join("runs", f"{cfg.data}-{cfg.hash()}")
            store.check_output(plan["out"], run=True)
        elif args.command == "train":
            plan["out"] = args.out or os.path.join("runs", f"seeds-{plan['cfg'].data}-{plan['cfg'].hash()}")
            store.check_output(plan["out"])
        elif args.command == "ladder":
            plan["out"] = args.out or os.path.join("runs", f"ladder-{args.name}")
            store.check_output(plan["out"])
        elif args.command == "repro" and args.out:
            store.check_output(args.out, run=len(plan["seeds"]) == 1)
        elif args.command == "predict" and args.show:
            store.check_output(args.show, "--show")
    except (ConfigError, ValueError, store.OutputError) as e:
        _usage_error(args, str(e))
    return plan


def _usage_error(args: argparse.Namespace, message: str):
    """A usage problem found after parsing: the same one line as argparse's own, exit 2."""
    prog = f"lecun1989 {args.command}" + (f" {args.data_command}" if getattr(args, "data_command", None) else "")
    print(f"lecun1989: error: {message} (see '{prog} --help')", file=sys.stderr)
    raise SystemExit(2)


def _run(args: argparse.Namespace, plan: dict) -> int:
    seeds = plan.get("seeds")
    if args.command == "repro" and len(seeds) > 1:
        from .commands import repro_seeds
        return repro_seeds(plan["cfg"], seeds, engine=args.engine, jobs=args.jobs, data_root=args.data_root,
                           out=args.out)
    if args.command == "repro":
        from .commands import repro
        return repro(plan["cfg"].with_overrides(seed=seeds[0]), engine=args.engine, data_root=args.data_root,
                     out=args.out)
    if args.command == "train" and len(seeds) > 1:
        from .commands import train_seeds
        return train_seeds(plan["cfg"], seeds, engine=args.engine, jobs=args.jobs, data_root=args.data_root,
                           out=plan["out"])
    if args.command == "train":
        from .commands import train_one
        return train_one(plan["cfg"], engine=args.engine, data_root=args.data_root, out=plan["out"])
    if args.command == "ladder":
        from .commands import ladder_command
        return ladder_command(args.name, steps=plan["steps"], seeds=seeds, engine=args.engine, jobs=args.jobs,
                              data_root=args.data_root, out=plan["out"], override=plan["override"])
    if args.command == "data":
        from .commands import data_command
        return data_command(args.data_command, getattr(args, "name", None), args.data_root)
    if args.command == "report":
        from .report import report_command
        return report_command(args.dir, data_root=args.data_root)
    if args.command == "predict":
        from .predict import predict_command
        return predict_command(args.files, args.model, args.json, args.show)
    if args.command == "hunt":
        from .hunt import SEARCH_SEEDS, hunt_command
        seeds = tuple(range(SEARCH_SEEDS[0], SEARCH_SEEDS[0] + args.seeds))
        return hunt_command(out=args.out, data_root=args.data_root, trials=args.trials, minutes=args.minutes,
                            jobs=args.jobs, seeds=seeds, passes=args.passes, confirm_top=args.confirm,
                            confirm_seeds=args.confirm_seeds, summary_only=args.summary,
                            ablation=args.ablate)
    if args.command == "demo":
        from .demo import demo_command
        return demo_command(args.model, args.out, args.open)
    raise AssertionError(f"unknown command {args.command}")  # pragma: no cover - argparse checks it


def _error(text: str) -> None:
    print(f"lecun1989: error: {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """The one error boundary: a problem a user can cause ends in one line on stderr and an exit
    code (2: invalid usage, checked before any work; 1: a failure at run time; 130: Ctrl-C),
    never in a traceback. LECUN1989_DEBUG=1 shows the traceback of an unexpected error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # the library logs (e.g. the fast engine's first-use compile time); the CLI shows it
    log = logging.getLogger("lecun1989")
    if not log.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    plan = _check(args)
    from .data import DataError
    from .pretrained import PretrainedError
    from .report import ReportError
    from .store import CorruptFileError, OutputError, os_error_line
    try:
        return _run(args, plan)
    except KeyboardInterrupt as e:
        print(f"lecun1989: {e or 'interrupted'}", file=sys.stderr)
        return 130
    except (DataError, OutputError, CorruptFileError, ReportError, PretrainedError, ConfigError) as e:
        _error(str(e))
        return 1
    except BrokenPipeError:             # e.g. `lecun1989 data list | head -1`: the reader left
        try:                            # (stdout goes to /dev/null, so the exit flush does not fail)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except OSError as e:
        _error(os_error_line(e, e.filename, "read or write"))
        return 1
    except Exception as e:  # noqa: BLE001 - the boundary: a bug, said in one line
        if os.environ.get("LECUN1989_DEBUG") == "1":
            raise
        _error(f"unexpected {type(e).__name__}: {e}. This is a bug in lecun1989: please report it with the "
               "command (LECUN1989_DEBUG=1 shows the traceback)")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
