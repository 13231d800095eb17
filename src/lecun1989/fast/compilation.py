"""Compilation: one machine code per machine, compiled in two child processes.

Measured here (numba 0.68): code compiled in the running process and the same code loaded from
numba's on-disk cache do not round alike (the first float32 digits of pass 1 differ), so a run
in a fresh install would not repeat the numbers of later runs. Every process therefore runs the
cached code: when the cache is missing or older than any source file the compiled code depends
on (`_sources`), two child processes compile and write it first (`ensure_compiled`), then this
process loads it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)

_CHILD_ENV = "LECUN1989_FAST_COMPILING"
_ENSURED = False
_PACKAGE = Path(__file__).resolve().parent


def _sources() -> list[Path]:
    """Every source file whose code or constants the compiled kernels contain: the fast package,
    the vector intrinsics, the activation registry's kernels and the geometry's constants. numba
    checks only the file that defines a function, so a change to another of these must be found
    here."""
    root = _PACKAGE.parent
    files = sorted(_PACKAGE.glob("*.py")) + [root / "simd.py", root / "activations.py", root / "geometry.py", root / "adamw.py"]
    return [f for f in files if f.exists()]


def _entry_points():
    from .kernel import _kernel
    from .predict import _predict_kernel
    return _kernel, _predict_kernel


def _dispatchers() -> list:
    """Every numba function of the sources (whose cache entries an outdated cache must drop)."""
    import importlib
    from numba.core.registry import CPUDispatcher
    found = []
    for path in _sources():
        if path.parent == _PACKAGE:
            name = f"{__package__}.{path.stem}"
        else:
            name = f"{__package__.rsplit('.', 1)[0]}.{path.stem}"
        if path.stem == "__init__":
            continue
        mod = importlib.import_module(name)
        found += [v for v in vars(mod).values() if isinstance(v, CPUDispatcher) and v.__module__ == name]
    return found


def _cache_is_current() -> bool | None:
    """True/False: whether numba's cache of both entry points holds machine code newer than every
    source (`_sources`); None: unknown (numba internals changed, or no cache can be written)."""
    try:
        caches = [k._cache._cache_file for k in _entry_points()]
        newest = max(p.stat().st_mtime for p in _sources())
        for c in caches:
            path = Path(c._index_path)
            if not path.exists() or path.stat().st_mtime < newest or not c._load_index():
                return False
    except AttributeError:
        return None
    return True


def ensure_compiled() -> None:
    """Make sure this process will load the kernels from the on-disk cache (see above). With an
    outdated cache, every cached function is dropped from it, and two child processes compile:
    the functions `_kernel` calls are split between them (`warmup.leaf_calls`), then one of them
    compiles `_kernel` itself."""
    global _ENSURED
    import os
    import subprocess
    import sys
    if _ENSURED or os.environ.get(_CHILD_ENV):
        return
    _ENSURED = True
    if _cache_is_current() is False:
        log.info("compiling the fast engine (first use on this install; cached afterwards) ...")
        t0 = time.perf_counter()
        for disp in _dispatchers():
            disp._cache.flush()
        env = {**os.environ, _CHILD_ENV: "1"}

        def child(group, **kw):
            code = f"from {__package__}.warmup import compile_group; compile_group({group!r})"
            return subprocess.Popen([sys.executable, "-c", code], env=env, **kw)
        back = child("backward", stdout=subprocess.PIPE)
        main = child("forward", stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        back.stdout.readline()
        main.communicate(b"go\n")
        back.communicate()
        log.info("compiled the fast engine in %.1f s", time.perf_counter() - t0)
