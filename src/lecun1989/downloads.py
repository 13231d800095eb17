"""Where data files live and how they get there: the data root, the files of each data set (its
entry in datasets.py), their checksums, and downloads from the entry's mirrors.

Missing files are downloaded from the mirrors in turn, into a temporary file in the destination
folder, checked, then renamed into place; a file already in the cache is checked before its first
use in a process (memoised per path, size and mtime). Every problem is one `DataError` naming the
file and how to fix it.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from . import datasets
from .datasets import DataFile, DataSet

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 60.0  # seconds per connection attempt


class DataError(Exception):
    """A data file is missing, corrupt or unexpected. The message is one line for the user,
    naming the file (and the line or byte offset) and, where possible, how to fix it."""


# =============================================================================================
# Where data lives
# =============================================================================================

def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: `root` if given, else $LECUN1989_DATA, else the per-user cache folder
    ($XDG_CACHE_HOME or ~/.cache)/lecun1989. Not created here."""
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get("LECUN1989_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "lecun1989"


@dataclass(frozen=True)
class FileSpec:
    """One downloadable file of a data set: the set's name (its entry, looked up at call time so
    that tests can point the mirrors at file:// folders) and the file."""

    dataset: str
    file: DataFile

    @property
    def entry(self) -> DataSet:
        return datasets.get(self.dataset)

    @property
    def filename(self) -> str:
        return self.file.name

    @property
    def stem(self) -> str:
        return self.file.stem

    def urls(self) -> list[str]:
        return self.entry.urls(self.file)

    def candidates(self, folder: Path) -> list[Path]:
        """Accepted paths in `folder`, preferred first: the .gz, then the decompressed file when
        its checksum is known."""
        out = [folder / self.filename]
        if self.file.raw_md5:
            out.append(folder / self.stem)
        return out


def files_of(name: str) -> list[FileSpec]:
    return [FileSpec(name, f) for f in datasets.get(name).files]


def root_source(root: str | os.PathLike | None) -> str | None:
    """Who chose the data folder: "--data-root" (the `root` argument), "LECUN1989_DATA", or
    None for the per-user cache folder (the only one lecun1989 creates itself)."""
    if root is not None and str(root) != "":
        return "--data-root"
    if os.environ.get("LECUN1989_DATA"):
        return "LECUN1989_DATA"
    return None


def locate(spec: FileSpec, folder: Path) -> Path | None:
    """The file's path in `folder`, or None if absent. Something else than a file where the
    file should be (a folder) is a DataError: it is not "missing", and must not be downloaded over."""
    for path in spec.candidates(folder):
        if path.is_file():
            return path
        if path.exists() or path.is_symlink():
            what = "a folder" if path.is_dir() else "not a regular file"
            raise DataError(f"{path}: {what} where the data file {path.name} should be; remove it "
                            "(lecun1989 data fetch then downloads the file) or put the file there")
    return None


# =============================================================================================
# Checksums (memoised per path, size and mtime: a file is checked once per process)
# =============================================================================================

_VERIFIED: set[tuple[str, int, int]] = set()


def stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def gunzip(path: Path, blob: bytes) -> bytes:
    """Decompress a .gz read from `path`; corrupt data -> DataError naming the file."""
    try:
        return gzip.decompress(blob)
    except (OSError, EOFError, zlib.error, ValueError) as e:  # BadGzipFile is an OSError
        raise DataError(f"{path}: not a valid gzip file ({reason(e)}); delete it and fetch it "
                        "again") from None


def checksum_ok(spec: FileSpec, path: Path, blob: bytes, content: bytes | None = None) -> bool:
    """True when the file's bytes match the published checksum, or (when the entry knows it)
    its decompressed content matches the published MD5 of the content: re-compressed copies and
    decompressed files hold the same data. `content` is the decompressed data if known."""
    f = spec.file
    if path.name.endswith(".gz"):
        if hashlib.new(f.algorithm, blob).hexdigest() == f.digest:
            return True
        if not f.raw_md5:
            return False
        if content is None:
            try:
                content = gzip.decompress(blob)
            except (OSError, EOFError, zlib.error, ValueError):
                return False
    else:
        content = blob
    return bool(f.raw_md5) and hashlib.md5(content).hexdigest() == f.raw_md5


def mismatch(spec: FileSpec, path: Path) -> DataError:
    algo = "MD5" if spec.file.algorithm == "md5" else spec.file.algorithm
    return DataError(f"{path}: {algo} checksum mismatch (the file is corrupt or not the published "
                     f"one); delete it and fetch it again (from {spec.urls()[0]})")


def verify_blob(spec: FileSpec, path: Path, key: tuple[str, int, int], blob: bytes,
                 content: bytes | None = None) -> None:
    if key in _VERIFIED:
        return
    if not checksum_ok(spec, path, blob, content):
        raise mismatch(spec, path)
    _VERIFIED.add(key)


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({reason(e)})") from None


def verify_file(spec: FileSpec, path: Path) -> None:
    key = stat_key(path)
    if key not in _VERIFIED:
        verify_blob(spec, path, key, read_bytes(path))


def reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


# =============================================================================================
# Downloads
# =============================================================================================

def download_file(spec: FileSpec, folder: Path, failures: list[str]) -> Path | None:
    """Try each mirror in turn; returns the final path, or None (reasons appended to failures).

    The data goes to a temporary file in `folder`, is checked, and only then renamed into
    place, so an interrupted or wrong download never sits where a good file is expected."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        failures.append(f"cannot create {folder} ({reason(e)})")
        return None
    final = folder / spec.filename
    for url in spec.urls():
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=folder)
            log.info("downloading %s -> %s", url, final)
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as r:
                shutil.copyfileobj(r, out, 1 << 20)
            blob = Path(tmp).read_bytes()
            if not checksum_ok(spec, final, blob):
                log.warning("%s: checksum mismatch, download discarded", url)
                failures.append(f"{url}: checksum mismatch, download discarded")
                continue
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; a data folder may be shared
            os.replace(tmp, final)
            tmp = None
            _VERIFIED.add(stat_key(final))
            return final
        except (OSError, http.client.HTTPException, ValueError) as e:  # URLError is an OSError
            failures.append(f"{url}: {reason(e)}")
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
    return None


def ensure(dataset: str, folder: Path, download: bool, source: str | None = None) -> dict[str, Path]:
    """Paths of every file of data set `dataset` in `folder` (normally root/<its folder>),
    downloading missing ones.
    Missing files after that -> one DataError listing each file, its URLs and the folder.
    source: who chose the root (root_source); a root chosen by the user that does not exist
    is an error (a typo), never created."""
    found: dict[str, Path] = {}
    missing: list[FileSpec] = []
    for spec in files_of(dataset):
        path = locate(spec, folder)
        if path is None:
            missing.append(spec)
        else:
            found[spec.filename] = path
    if missing and download and source is not None and not folder.parent.is_dir():
        raise DataError(f"data folder {folder.parent} (from {source}) does not exist: check the path given "
                        "with --data-root or LECUN1989_DATA, or create the folder first to download "
                        f"'{dataset}' into it")
    failures: list[str] = []
    still: list[FileSpec] = []
    for spec in missing:
        path = download_file(spec, folder, failures) if download else None
        if path is None:
            still.append(spec)
        else:
            found[spec.filename] = path
    if still:
        files = "; ".join(f"{s.filename} (from {' or '.join(s.urls())})" for s in still)
        how = ("download failed: " + "; ".join(failures) + ". ") if failures else (
            "downloads are off. " if not download else "")
        raise DataError(f"missing data for '{dataset}': {files}. {how}Put the file(s) in "
                        f"{folder} (or choose another data folder with --data-root or LECUN1989_DATA)")
    return found
