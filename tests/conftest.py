"""Shared fixtures. The real data files live in ../shared/data (beside the repository), or in
the folder LECUN1989_TEST_DATA names (holding mnist/ and usps/ as a download lays them out);
tests that need them skip when they are absent, and the run ends with one line saying how many
skipped and how to point them at the data, unless LECUN1989_REQUIRE_DATA=1 (set by .ci/run), in
which case a missing folder is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_NO_DATA = "real data not found"


def _shared_data() -> Path:
    env = os.environ.get("LECUN1989_TEST_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder holding mnist/ and usps/ exactly as a download produces them."""
    path = _shared_data()
    if not (path / "mnist").is_dir() or not (path / "usps").is_dir():
        msg = f"{_NO_DATA} at {path} (set LECUN1989_TEST_DATA)"
        if os.environ.get("LECUN1989_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def _reference_file(name: str) -> Path:
    """A golden file of the anchor's scripts run on this kind of machine (../shared/reference)."""
    path = REPO.parent / "shared" / "reference" / name
    if not path.is_file():
        if os.environ.get("LECUN1989_REQUIRE_DATA") == "1":
            pytest.fail(f"reference file not found at {path}")
        pytest.skip(f"reference file not found at {path}")
    return path


@pytest.fixture(scope="session")
def reference_log() -> Path:
    """The anchor's 1989 script (repro.py), 23 passes on mnist1989."""
    return _reference_file("anchor-repro-train-first.log")


@pytest.fixture(scope="session")
def reference_modern() -> tuple[Path, Path]:
    """The anchor's modern script cut after pass 2 on mnist1989: its log and its weights."""
    return (_reference_file("anchor-modern-train-first.log"),
            _reference_file("anchor-modern-train-first-pass2.pt"))


def pytest_configure(config):
    # Tiny tensors: one thread is fastest, and it avoids OpenMP spin contention when the
    # machine is busy (tests run next to benchmarks or other runs).
    import torch
    torch.set_num_threads(1)


def pytest_terminal_summary(terminalreporter):
    """One line when tests that need the real data files skipped for want of them."""
    skipped = terminalreporter.stats.get("skipped", [])
    n = sum(_NO_DATA in str(getattr(r, "longrepr", "")) for r in skipped)
    if n:
        terminalreporter.write_line(
            f"lecun1989: {n} real-data test(s) skipped: no mnist/ and usps/ in {_shared_data()}; "
            "point LECUN1989_TEST_DATA at a folder holding them (lecun1989 data fetch mnist, "
            "data fetch usps download them), e.g. LECUN1989_TEST_DATA=~/.cache/lecun1989 python -m pytest",
            yellow=True)
