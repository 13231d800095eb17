"""Files and run folders: written atomically, strict JSON, read back and checked, claimed per run.

Every file is written to a temporary name beside its final one and renamed into place
(`write_bytes`), so a crash or a full disk never leaves half a file under the final name. JSON
is strict (`dumps`: NaN and infinities become null, and `json.dumps(allow_nan=False)` enforces
it); a metrics record whose loss was not finite also says `"diverged": true`.

A run folder is trained under `.tmp-<name>-<pid>` beside its final name and renamed when it has
finished (`train.train_into`), so a folder under its final name is a finished run:

    config.json     the config, its hash and the engine
    metrics.jsonl   one record per pass and split
    rejection.json  error versus rejection on the test digits, at the last pass
    checkpoint.pt   the weights and the config (loads with torch.load(weights_only=True))
    status.json     done | diverged, the passes trained, seconds, engine, seed, config hash

`read_run` is the one reader of a run folder (config, status, records; a damaged file is an
error naming it, never a shorter run); `check_run` says what is wrong with a folder that should
hold a finished run (None if nothing): a missing or corrupt file, metrics cut short, a
checkpoint that does not load. Checkpoints are written and loaded here (`save_checkpoint`,
`load_checkpoint`, always with torch.load(weights_only=True)), and `provenance` is what every
results file records about the machine and library versions.

Two processes never train the same run at once: a run is claimed by an exclusive `flock` on
`<parent>/.claims/<name>.lock` (`claim`), held while it trains. The kernel releases the lock
when its process ends in any way (even SIGKILL), so a claim is never stale: the next process
to ask gets it. Without fcntl (Windows) claims always succeed.

Errors that a user can cause are one-line exceptions naming the file and what to do:
`OutputError` (cannot write), `CorruptFileError` (a file lecun1989 wrote cannot be read back).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

TMP_PREFIX = ".tmp-"            # a run being trained: .tmp-<name>-<pid>
OLD_PREFIX = ".old-"            # a run being replaced: .old-<name>-<pid> (removed right after)
STATUS_FILE = "status.json"
CLAIMS_DIR = ".claims"


class OutputError(Exception):
    """A file or folder cannot be written; the message names it and says what to do."""


class CorruptFileError(Exception):
    """A file lecun1989 wrote cannot be read back; the message names it and says what to do."""


class CheckpointError(CorruptFileError, ValueError):
    """A file that is not a lecun1989 checkpoint, or a damaged one."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM), with the one line to print about what was kept."""


# =============================================================================================
# OS errors as one line
# =============================================================================================

_HINTS = {
    errno.ENOSPC: "the disk is full: free some space and run the command again",
    errno.EDQUOT: "the disk quota is exceeded: free some space and run the command again",
    errno.EROFS: "the file system is read-only: choose a folder elsewhere",
    errno.EACCES: "no permission to write there: choose a folder you can write to",
    errno.EPERM: "no permission to write there: choose a folder you can write to",
    errno.ENOTDIR: "a file stands where a folder is needed: choose another path",
    errno.EEXIST: "a file stands where a folder is needed: choose another path",
    errno.EISDIR: "a folder stands where a file is needed: remove it or choose another path",
    errno.ENOENT: "the folder does not exist (any more): check the path",
}


def os_error_line(e: OSError, path: str | os.PathLike | None = None, what: str = "write") -> str:
    """`cannot write PATH (reason); what to do` for an OSError raised while writing PATH."""
    path = path if path is not None else (e.filename or "?")
    reason = e.strerror or str(e) or type(e).__name__
    hint = _HINTS.get(e.errno, "check the path and the disk")
    return f"cannot {what} {path} ({reason}); {hint}"


# =============================================================================================
# Atomic writes and strict JSON
# =============================================================================================

def _write_file(path: Path, blob: bytes) -> None:
    """The one place bytes reach the disk (tests replace it to simulate a full disk)."""
    with open(path, "wb") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())


def write_bytes(path: str | os.PathLike, blob: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: nothing half-written is left.
    An OSError becomes an OutputError naming `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _write_file(tmp, blob)
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(os_error_line(e, path)) from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode())


def strict(obj: Any) -> Any:
    """`obj` with every NaN or infinite float replaced by None (tuples become lists)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def dumps(obj: Any, **kw) -> str:
    """Strict JSON: NaN and infinities are written as null."""
    return json.dumps(strict(obj), allow_nan=False, **kw)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, dumps(obj, indent=2, sort_keys=True) + "\n")


def record_line(rec: dict) -> str:
    """One metrics.jsonl line: a non-finite figure (a diverged pass) is null, with "diverged": true."""
    bad = [k for k, v in rec.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        rec = {**rec, **{k: None for k in bad}, "diverged": True}
    return json.dumps(rec, allow_nan=False)


def metrics_text(records: list[dict]) -> str:
    return "".join(record_line(r) + "\n" for r in records)


# =============================================================================================
# Reading back
# =============================================================================================

def _read_text(path: Path, fix: str) -> str:
    """The file's text; a missing file raises FileNotFoundError, an unreadable one CorruptFileError."""
    try:
        return path.read_text()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as e:
        raise CorruptFileError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})"
                               + (f"; {fix}" if fix else "")) from None


def read_json(path: str | os.PathLike, fix: str = "") -> Any:
    """A JSON file; a missing one raises FileNotFoundError, an unreadable or corrupt one
    CorruptFileError naming it (and `fix`, what to do)."""
    path = Path(path)
    text = _read_text(path, fix)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        what = "empty" if not text.strip() else f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        raise CorruptFileError(f"{path}: {what}" + (f"; {fix}" if fix else "")) from None


def read_records(path: str | os.PathLike, fix: str = "") -> list[dict]:
    """metrics.jsonl: one JSON object per line (older files may hold bare NaN: accepted)."""
    path = Path(path)
    text = _read_text(path, fix)
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorruptFileError(f"{path}:{number}: not valid JSON ({e.msg}; cut short?)"
                                   + (f"; {fix}" if fix else "")) from None
        if not isinstance(rec, dict) or not {"pass", "split"} <= set(rec):
            raise CorruptFileError(f"{path}:{number}: not a metrics record" + (f"; {fix}" if fix else ""))
        out.append(rec)
    return out


# =============================================================================================
# A run folder, read back
# =============================================================================================

RUN_FIX = "train the run again (a ladder: run the same command again: a damaged run is trained again)"


@dataclass
class RunFiles:
    """What a run folder says about its run: config.json, status.json (None while absent: a
    folder `train.run(out=...)` wrote, or one still training) and metrics.jsonl ([] if absent)."""

    dir: Path
    config: dict | None
    status: dict | None
    records: list[dict]


def read_run(run_dir: str | os.PathLike, fix: str = RUN_FIX) -> RunFiles:
    """A run folder's config, status and per-pass records. An absent file is None (or []); a
    file that is there but cannot be read, is not the JSON object it should be, or holds a
    metrics line cut short is a CorruptFileError naming it (and the line), with `fix`. A damaged
    metrics.jsonl is never read as a shorter run: it is written whole or not at all (write_text),
    so a line cut short is damage, not a run that stopped there."""
    d = Path(run_dir)
    found: dict[str, Any] = {}
    for name in ("config.json", STATUS_FILE):
        try:
            value = read_json(d / name, fix)
        except FileNotFoundError:
            value = None
        if value is not None and not isinstance(value, dict):
            raise CorruptFileError(f"{d / name}: not a JSON object; {fix}")
        found[name] = value
    try:
        records = read_records(d / "metrics.jsonl", fix)
    except FileNotFoundError:
        records = []
    return RunFiles(d, found["config.json"], found[STATUS_FILE], records)


def read_finished(run_dir: str | os.PathLike) -> tuple[dict, list[dict]]:
    """(status, per-pass records) of a finished run (read_run); CorruptFileError naming a
    damaged file, also for a missing status.json."""
    run = read_run(run_dir)
    if run.status is None:
        raise CorruptFileError(f"{Path(run_dir) / STATUS_FILE}: missing; {RUN_FIX}")
    return run.status, run.records


def run_id(cfg, engine: str = "fast") -> str:
    """A run's folder name: the config hash (seed included); other engines than the default
    get a suffix, since their float arithmetic differs."""
    return cfg.hash() if engine == "fast" else f"{cfg.hash()}-{engine}"


# =============================================================================================
# Checking an output path before any work
# =============================================================================================

def _probe(folder: Path) -> None:
    """Create and remove a file in `folder`: raises OSError if it cannot be written."""
    fd, name = tempfile.mkstemp(prefix=".lecun1989-probe-", dir=folder)
    os.close(fd)
    os.unlink(name)


def check_output(path: str | os.PathLike, option: str = "--out", *, run: bool = False) -> None:
    """Before any work: can `path` be written? OutputError (one line, naming `option`) if not.

    run=False: `path` is a folder to write files into; it is created.
    run=True: `path` is a run folder, trained beside it and renamed into place (replacing a
    previous run there); its parent is created, and an existing `path` must be a run folder or
    empty, so that no other folder is ever replaced."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{option} {p}: a file is there, not a folder; choose another path")
    a = p
    while not a.exists() and a != a.parent:
        a = a.parent
    if a.exists() and not a.is_dir():
        raise OutputError(f"{option} {p}: {a} is a file, not a folder; choose another path")
    if run and p.is_dir() and any(p.iterdir()) and not (
            (p / "config.json").exists() or (p / "metrics.jsonl").exists()):
        raise OutputError(f"{option} {p}: the folder exists and does not hold a lecun1989 run (it would "
                          "be replaced by the run); choose another path")
    target = p.parent if run else p
    try:
        target.mkdir(parents=True, exist_ok=True)
        _probe(target)
    except OSError as e:
        raise OutputError(f"{option} {p}: " + os_error_line(e, target)) from None


# =============================================================================================
# Claims
# =============================================================================================

def _claim_path(run_dir: Path) -> Path:
    return run_dir.parent / CLAIMS_DIR / f"{run_dir.name}.lock"


@contextlib.contextmanager
def claim(run_dir: str | os.PathLike) -> Iterator[bool]:
    """Inside: True if this process holds the run's claim, False if another process does.

    The claim is an exclusive flock on <parent>/.claims/<name>.lock: released when the block
    ends, and by the kernel when the process ends in any way, so no claim outlives its process."""
    run_dir = Path(run_dir)
    if fcntl is None:  # pragma: no cover
        yield True
        return
    path = _claim_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    got = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            got = True
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        if got:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield got
    finally:
        if got:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def claim_holder(run_dir: str | os.PathLike) -> int | None:
    """The pid written by the process that holds (or last held) the run's claim."""
    try:
        return int(_claim_path(Path(run_dir)).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# =============================================================================================
# Checkpoints
# =============================================================================================

def net_config(cfg):
    """The NetConfig of a run's Config: the net a run trains, and its checkpoint loads into."""
    from .model import NetConfig
    return NetConfig(activation=cfg.activation, head=cfg.head, dropout=cfg.dropout,
                     h2_scheme=cfg.h2_scheme, h2_seed=cfg.h2_seed, init=cfg.init,
                     h1_maps=cfg.h1_maps, h2_maps=cfg.h2_maps, h3_units=cfg.h3_units)


def save_checkpoint(path: str | os.PathLike, state: dict, cfg) -> None:
    """A checkpoint is the state_dict plus the config that made it (loads with weights_only=True)."""
    import io

    import torch
    buf = io.BytesIO()
    torch.save({"state_dict": {k: v.detach().cpu().contiguous() for k, v in state.items()},
                "config": cfg.to_dict()}, buf)
    write_bytes(path, buf.getvalue())


_NOT_A_CHECKPOINT = "give 1989, modern, a run folder or the checkpoint.pt that lecun1989 wrote into it"


def _sniff(head: bytes) -> str | None:
    """What a file that is not a torch checkpoint looks like, from its first bytes (None: it
    may be one - torch's zip format, or a pickle, which torch.load(weights_only=True) decides)."""
    if not head:
        return "an empty file"
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return None
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    if head.startswith(b"\xff\xd8\xff"):
        return "a JPEG image"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "not a torch file"
    return "a text file"


def load_checkpoint(path: str | os.PathLike):
    """(the Net1989 in eval mode, its Config) from a checkpoint. Loaded with weights_only=True: a file
    holding Python code is refused, never executed. FileNotFoundError if there is no file;
    CheckpointError (one line naming the file) for anything that is not a lecun1989 checkpoint."""
    import pickle
    import warnings

    import torch

    from .config import Config, ConfigError
    from .model import Net1989
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder, not a checkpoint file; {_NOT_A_CHECKPOINT}")
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read it ({e.strerror or e}); {_NOT_A_CHECKPOINT}") from None
    what = _sniff(head)
    if what is not None:
        raise CheckpointError(f"{path}: not a lecun1989 checkpoint ({what}); {_NOT_A_CHECKPOINT}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # e.g. torch's note on a pickle protocol it did not write
            ck = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path}: not a lecun1989 checkpoint (a pickle of Python objects other than "
                              "tensors: refused, its code is never run); " + _NOT_A_CHECKPOINT) from None
    except EOFError:
        raise CheckpointError(f"{path}: cut short; {_NOT_A_CHECKPOINT}") from None
    except Exception as e:  # noqa: BLE001 - torch reports a damaged archive in several ways
        first = str(e).splitlines()[0].split(". ")[0][:160] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: a damaged checkpoint ({type(e).__name__}: {first}); "
                              f"{_NOT_A_CHECKPOINT}") from None
    if not (isinstance(ck, dict) and isinstance(ck.get("state_dict"), dict) and isinstance(ck.get("config"), dict)):
        held = f"a {type(ck).__name__}" if not isinstance(ck, dict) else f"a dict of {', '.join(sorted(map(str, ck))[:6])}"
        raise CheckpointError(f"{path}: not a lecun1989 checkpoint (it holds {held}, not a state_dict and "
                              f"a config); {_NOT_A_CHECKPOINT}")
    try:
        cfg = Config.from_dict(ck["config"])
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{path}: its config is not valid ({e}); {_NOT_A_CHECKPOINT}") from None
    model = Net1989(net_config(cfg))
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = ck["state_dict"]
    wrong = [k for k in want if not (isinstance(got.get(k), torch.Tensor) and tuple(got[k].shape) == want[k])]
    extra = sorted(set(map(str, got)) - set(want))
    if wrong or extra:
        bad = (f"{wrong[0]} is {tuple(got[wrong[0]].shape) if isinstance(got.get(wrong[0]), torch.Tensor) else 'missing'}"
               f", expected {want[wrong[0]]}" if wrong else f"unexpected {extra[0]}")
        raise CheckpointError(f"{path}: its weights do not fit the 1989 net ({bad}); {_NOT_A_CHECKPOINT}")
    model.load_state_dict(got)
    model.eval()
    return model, cfg


# =============================================================================================
# Run folders
# =============================================================================================

def expected_passes(cfg) -> int:
    """The passes a finished run of `cfg` has records for (all of them unless it stops early)."""
    stop = getattr(cfg, "stop_after", 0) or 0
    return min(stop, cfg.passes) if stop else cfg.passes


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(folder: str | os.PathLike) -> list[Path]:
    """Remove half-trained run folders (`.tmp-<name>-<pid>`, `.old-<name>-<pid>`) whose process
    is gone."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in [*folder.glob(TMP_PREFIX + "*"), *folder.glob(OLD_PREFIX + "*")]:
        try:
            pid = int(p.name.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and _pid_alive(pid):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def is_finished(run_dir: str | os.PathLike) -> bool:
    return (Path(run_dir) / STATUS_FILE).is_file()


def _config_of(d: dict):
    from .config import Config
    from dataclasses import fields
    names = {f.name for f in fields(Config)}
    return Config.from_dict({k: v for k, v in d.items() if k in names})


def check_run(run_dir: str | os.PathLike, cfg=None) -> str | None:
    """None if `run_dir` holds a complete finished run (of `cfg`, when given); else what is
    wrong, as a short phrase ("metrics.jsonl ends at pass 3 of 23")."""
    from .config import ConfigError
    d = Path(run_dir)
    if not d.is_dir():
        return "no run folder"
    try:
        status = read_json(d / STATUS_FILE)
        if not isinstance(status, dict) or status.get("status") not in ("done", "diverged"):
            return f"{STATUS_FILE} holds no status"
        conf = read_json(d / "config.json")
        if not isinstance(conf, dict):
            return "config.json holds no config"
        run_cfg = _config_of(conf)
        if cfg is not None and run_cfg.hash() != cfg.hash():
            return "config.json is another run's config"
        records = read_records(d / "metrics.jsonl")
    except FileNotFoundError as e:
        return f"{Path(e.filename).name} is missing"
    except CorruptFileError as e:
        return str(e).replace(str(d) + os.sep, "")
    except ConfigError as e:
        return f"config.json: {e}"
    want = status.get("diverged_at") if status["status"] == "diverged" else expected_passes(run_cfg)
    if not isinstance(want, int):
        return f"{STATUS_FILE} holds no diverged_at"
    have = {(r.get("pass"), r.get("split")) for r in records}
    for p in range(1, want + 1):
        if (p, "train") not in have or (p, "test") not in have:
            last = max((r["pass"] for r in records if isinstance(r.get("pass"), int)), default=0)
            return ("metrics.jsonl is empty" if not records else
                    f"metrics.jsonl ends at pass {last} of {want}" if last < want else
                    f"metrics.jsonl lacks pass {p}")
    try:
        _, ck_cfg = load_checkpoint(d / "checkpoint.pt")
    except FileNotFoundError:
        return "checkpoint.pt is missing"
    except CheckpointError as e:
        return str(e).replace(str(d) + os.sep, "").split("; give ")[0]
    if ck_cfg.hash() != run_cfg.hash():
        return "checkpoint.pt holds another run's config"
    return None


def discard(run_dir: str | os.PathLike) -> None:
    """Remove a damaged run folder (renamed aside first, so its name is free at once)."""
    d = Path(run_dir)
    aside = d.parent / f"{OLD_PREFIX}{d.name}-{os.getpid()}"
    try:
        os.rename(d, aside)
    except FileNotFoundError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def status_record(cfg, engine: str, result) -> dict:
    passes = max((r["pass"] for r in result.records), default=0)
    return {"status": "diverged" if result.diverged_at is not None else "done",
            "diverged_at": result.diverged_at, "passes_trained": passes,
            # a run stopped early (Config.stop_after) is finished as configured, but says so
            "passes_scheduled": cfg.passes,
            "seconds": round(result.seconds, 3), "engine": engine, "seed": cfg.seed,
            "config_hash": cfg.hash(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def put_in_place(tmp: Path, final: Path, replace: bool) -> None:
    """Rename a finished run from its temporary folder `tmp` to `final` (see train.train_into)."""
    try:
        os.rename(tmp, final)       # also replaces an empty folder
        return
    except OSError:
        if not final.is_dir():
            raise
    if not replace and check_run(final) is None:
        shutil.rmtree(tmp, ignore_errors=True)      # a finished twin from another process
        return
    old = final.parent / f"{OLD_PREFIX}{final.name}-{os.getpid()}"
    os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


# =============================================================================================
# Provenance
# =============================================================================================

def provenance() -> dict:
    """Machine and library versions, written next to every figure."""
    import platform

    import numpy
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"machine": f"{platform.machine()}, {cpu}, {os.cpu_count()} cores",
            "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}
    try:
        import numba
        info["numba"] = numba.__version__
    except ImportError:  # pragma: no cover
        pass
    return info
