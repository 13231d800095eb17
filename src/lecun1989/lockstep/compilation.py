"""The cache of the compiled kernels, checked against every source file they contain.

numba keys each function's cache on the time stamp of the file that defines it, so an edit of
lanevec.py (the vector intrinsics), of the activation registry or of the tanh's constants alone
would leave the cached kernels of this package stale. `ensure_compiled`, called before the first
kernel call of a process (LockstepEngine), compares the entry point's cache with every source
(`_sources`) and, when it is older, drops every cached function of those sources, so that they
are compiled again (as fast/compilation.py does for the fast engine).

Unlike the fast engine's kernels, these compile in this process: code compiled in the running
process and the same code loaded from the cache give the same numbers bit for bit (docs/lockstep.md,
"Compiled in the process or loaded from the cache: the same"; without fast-math nothing is left
for two compilations to decide differently), so no child process is needed.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)

_ENSURED = False
_PACKAGE = Path(__file__).resolve().parent
_ROOT = _PACKAGE.parent


# the modules of this package that hold compiled code (engine.py, group.py: Python only)
_COMPILED = ("common", "forward", "backward", "kernel")


def _sources() -> list[Path]:
    """Every source file whose code or constants the compiled kernels contain: this package's
    compiled modules, the K-lane intrinsics, the activation registry's kernels (run lane by lane),
    the tanh's constants and kernel, the fast engine's JIT flags (the registry's kernels are
    compiled with them) and the geometry's constants."""
    files = [_PACKAGE / f"{m}.py" for m in _COMPILED] + [_ROOT / "lanevec.py", _ROOT / "activations.py",
                                                          _ROOT / "geometry.py", _ROOT / "fast" / "tanh.py",
                                                          _ROOT / "fast" / "common.py", _ROOT / "adamw.py"]
    return [f for f in files if f.exists()]


def _module_name(path: Path) -> str:
    rel = path.relative_to(_ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _dispatchers() -> list:
    """Every numba function defined in the sources (whose cache entries a stale cache must drop)."""
    from numba.core.registry import CPUDispatcher
    found = []
    for path in _sources():
        name = _module_name(path)
        mod = importlib.import_module(name)
        found += [v for v in vars(mod).values() if isinstance(v, CPUDispatcher) and v.__module__ == name]
    return found


def _cache_is_current() -> bool | None:
    """True/False: whether numba's cache of the entry point `_kernel` was written after every
    source changed (`_sources`); None: unknown (numba internals changed). A cache with no entry
    counts as current: nothing stale can be loaded from it."""
    from .kernel import _kernel
    try:
        c = _kernel._cache._cache_file
        path = Path(c._index_path)
        if not path.exists():
            return True
        newest = max(p.stat().st_mtime for p in _sources())
        return path.stat().st_mtime >= newest or not c._load_index()
    except AttributeError:
        return None


def ensure_compiled() -> None:
    """Once per process, before the first kernel call: with a cache older than a source, every
    cached function of the sources is dropped from it, so that this process compiles them anew
    (and writes the cache again)."""
    global _ENSURED
    if _ENSURED:
        return
    _ENSURED = True
    if _cache_is_current() is False:
        log.info("the lockstep engine's cache is older than its sources: compiling it again")
        for disp in _dispatchers():
            disp._cache.flush()
