"""Where the digits come from: the embedded 1989 set, MNIST IDX files, the USPS zip-code files.

Every data set comes out as a `Dataset` of two `Split`s holding float32 images (N, 1, 16, 16) in
[-1, 1] and int64 labels (N,), the input format of LeCun et al. 1989 ("Backpropagation Applied
to Handwritten Zip Code Recognition", Neural Computation 1(4):541-551): 16x16 grey levels
scaled to [-1, 1], 7291 training and 2007 test digits.

Data sets (`DATASET_NAMES`; each one's facts, files, mirrors and checksums are its entry in
datasets.py):

- ``mnist1989`` (default): the anchor reproduction's simulated 1989 set (docs/reference.md, "The
  anchor reproduction"). Legacy numpy seed 1337; 7291 of the 60,000 MNIST training digits
  (``np.random.permutation(60000)[:7291]``) then 2007 of the 10,000 test digits
  (``np.random.permutation(10000)[:2007]``), drawn from the same stream; each 28x28 uint8
  image -> ``/ 127.5 - 1`` -> bilinear resize to 16x16 (``F.interpolate``, align_corners
  False). The selected 28x28 source images ship inside the package (``_data/mnist1989.bin.xz``,
  built by ``scripts/build_embedded.py``), so this set needs no download.
- ``mnist1989-test-first``: the same, with the test permutation drawn first. The anchor's script
  loops over a Python *set* of split names, so both orders occur in the wild; the published
  learner's walk-through used this one.
- ``usps``: the USPS zip-code digits as distributed with "The Elements of Statistical Learning"
  (Hastie, Tibshirani, Friedman): 7291 + 2007 digits, 16x16, grey values in [-1, 1], kept as
  the float values in the files. The closest public copy of the paper's own data.
- ``mnist``: full MNIST (60,000 training digits, or a seeded subset), tested on the 2007
  ``mnist1989`` test digits so that results compare with the other sets.
- ``fashion-mnist``: Fashion-MNIST's IDX files (clothing, not digits) through the same 28x28 ->
  16x16 conversion, tested on all 10,000 test images: the same reader as ``mnist``, one registry
  entry.

MNIST: Y. LeCun, C. Cortes, C. J. C. Burges, licence CC BY-SA 3.0. The embedded file is a
selection of MNIST images and carries the same licence.

Files live under a data root (`data_root`): ``root/mnist/<IDX files>`` and
``root/usps/zip.{train,test}.gz``. Missing files are downloaded from the entry's mirrors (tried
in turn, into a temporary file in the destination folder, checked, then renamed into place);
a file already in the cache is checked before its first use in a process. Every problem with a
file is reported as one `DataError` naming the file (and the line or byte offset), never as a
numpy or gzip traceback.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import datasets
from .datasets import DataSet
from .downloads import (DataError, FileSpec, data_root, download_file, ensure, files_of, gunzip, locate, read_bytes,
                        reason, root_source, stat_key, verify_blob, verify_file)

DATASET_NAMES = datasets.NAMES

# -- sizes (the paper's split, MNIST's split, image sides) -----------------------------------
PAPER_TRAIN = datasets.PAPER_TRAIN   # LeCun et al. 1989: 7291 training digits
PAPER_TEST = datasets.PAPER_TEST     # ... and 2007 test digits
MNIST_TRAIN = datasets.IDX_TRAIN     # the IDX files: 60,000 training images
MNIST_TEST = datasets.IDX_TEST       # ... and 10,000 test images
MNIST_SIDE = 28               # MNIST images are 28x28 uint8
SIDE = 16                     # the paper's input is 16x16
USPS_FIELDS = 1 + SIDE * SIDE  # a USPS line: the digit, then 256 grey values
ANCHOR_SEED = 1337            # the anchor's np.random.seed

# IDX format (http://yann.lecun.com/exdb/mnist/): big-endian uint32 magic 0x00000803 (= 2051,
# unsigned bytes, 3 dimensions) for images and 0x00000801 (= 2049, 1 dimension) for labels,
# then one uint32 per dimension, then the data.
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
IDX_IMAGES_HEADER = 4 * (1 + 3)   # magic + count, rows, cols
IDX_LABELS_HEADER = 4 * (1 + 1)   # magic + count

# Sources and checksums of the downloaded sets: their entries in datasets.py.

# The embedded selection of MNIST images (see build_embedded_bytes for the format).
EMBEDDED_FILE = "mnist1989.bin.xz"
EMBEDDED_MAGIC = b"lecun1989 embedded mnist1989 v1\n"
# sha256 of the decompressed payload: checks the shipped file independently of the xz CRC and
# of the liblzma version that compressed it. scripts/build_embedded.py prints it.
EMBEDDED_PAYLOAD_SHA256 = "514a4fe71e8415d03cc71988781c9c5cd6ff4e9f68dc5b4664281ae7faedb461"
# xz preset 2: 2.48 MB, ~1.5 s to build here; preset 9 saves only 10% for 7x the time, and the
# test suite rebuilds the file to check it is reproducible.
EMBEDDED_XZ_PRESET = 2

@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # float32 (N, 1, 16, 16) in [-1, 1]
    y: torch.Tensor  # int64 (N,), digits 0-9

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    test: Split
    normalisation: str  # "mnist" or "usps": how a raw image must be normalised for nets trained on it
    description: str    # one line: source, size


# =============================================================================================
# Parsing with validation
# =============================================================================================

def _where(path: Path) -> str:
    return " of the decompressed data" if path.name.endswith(".gz") else ""


def parse_idx(path: Path, data: bytes, magic: int, expected_count: int | None = None) -> np.ndarray:
    """Parse IDX bytes (already decompressed) read from `path`: uint8 images (N, 28, 28) when
    `magic` is 2051, uint8 labels (N,) in 0-9 when it is 2049. Every check names the byte offset."""
    where = _where(path)
    header = IDX_IMAGES_HEADER if magic == IDX_IMAGES_MAGIC else IDX_LABELS_HEADER
    kind = "images" if magic == IDX_IMAGES_MAGIC else "labels"
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header: {len(data)} bytes, an IDX {kind} header "
                        f"has {header} (byte offset 0{where})")
    fields = np.frombuffer(data, dtype=">u4", count=header // 4)
    if int(fields[0]) != magic:
        raise DataError(f"{path}: bad IDX magic number {int(fields[0])} at byte offset 0{where}; "
                        f"expected {magic} ({kind})")
    count = int(fields[1])
    if magic == IDX_IMAGES_MAGIC:
        rows, cols = int(fields[2]), int(fields[3])
        if (rows, cols) != (MNIST_SIDE, MNIST_SIDE):
            raise DataError(f"{path}: image size {rows}x{cols} at byte offset 8{where}; "
                            f"expected {MNIST_SIDE}x{MNIST_SIDE}")
        item = rows * cols
    else:
        item = 1
    if expected_count is not None and count != expected_count:
        raise DataError(f"{path}: header says {count} {kind} (byte offset 4{where}); "
                        f"expected {expected_count}")
    end = header + count * item
    if len(data) < end:
        raise DataError(f"{path}: truncated: header says {count} {kind} ({end} bytes in all), "
                        f"data ends at byte offset {len(data)}{where}")
    if len(data) > end:
        raise DataError(f"{path}: {len(data) - end} unexpected trailing bytes from byte offset "
                        f"{end}{where}")
    arr = np.frombuffer(data, dtype=np.uint8, offset=header)
    if magic == IDX_IMAGES_MAGIC:
        return arr.reshape(count, MNIST_SIDE, MNIST_SIDE)
    bad = np.flatnonzero(arr > 9)
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{path}: label {int(arr[i])} at byte offset {header + i}{where}; "
                        "labels must be digits 0-9")
    return arr


def _load_idx(spec: FileSpec, path: Path, magic: int, count: int) -> np.ndarray:
    """Read, parse (structural checks first: they say more than a checksum), then verify."""
    key = stat_key(path)
    blob = read_bytes(path)
    data = gunzip(path, blob) if path.name.endswith(".gz") else blob
    arr = parse_idx(path, data, magic, count)
    verify_blob(spec, path, key, blob, data)
    return arr


def read_mnist(root: str | os.PathLike | None = None, *, download: bool = True
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The full MNIST arrays from `root`/mnist, checked: (train images (60000, 28, 28) uint8,
    train labels (60000,) uint8, test images (10000, 28, 28), test labels (10000,))."""
    return read_idx_set("mnist", root, download=download)


def read_idx_set(name: str, root: str | os.PathLike | None = None, *, download: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four checked arrays of IDX data set `name` (train images, train labels, test images,
    test labels: 60,000 and 10,000 28x28 uint8 images) from its folder under `root`."""
    return _read_idx_folder(name, data_root(root) / datasets.get(name).folder, download, root_source(root))


def _read_mnist_folder(folder: Path, download: bool, source: str | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return _read_idx_folder("mnist", folder, download, source)


def _read_idx_folder(name: str, folder: Path, download: bool, source: str | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    paths = ensure(name, folder, download, source)
    specs = files_of(name)         # train images, train labels, test images, test labels
    magics = (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC) * 2
    counts = (MNIST_TRAIN, MNIST_TRAIN, MNIST_TEST, MNIST_TEST)
    out = [_load_idx(spec, paths[spec.filename], magic, count)
           for spec, magic, count in zip(specs, magics, counts)]
    return out[0], out[1], out[2], out[3]


def parse_usps(path: Path, text: str, expected_count: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Parse the ESL zip-code text read from `path`: one digit per line, then 256 grey values
    in [-1, 1] (row-major 16x16). Returns float32 images (N, 1, 16, 16), the values as written
    (parsed to the nearest double, then the nearest float32; never quantised), and int64
    labels (N,). Errors name the line: "file:line: ..."."""
    line_numbers: list[int] = []
    tokens: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue  # blank lines (e.g. a trailing newline) carry no digit
        if len(fields) != USPS_FIELDS:
            raise DataError(f"{path}:{number}: {len(fields)} fields; expected {USPS_FIELDS} "
                            f"(a digit and {SIDE * SIDE} grey values)")
        line_numbers.append(number)
        tokens.extend(fields)
    if not line_numbers:
        raise DataError(f"{path}: no digits found (empty file)")
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        for row, number in enumerate(line_numbers):
            for col, tok in enumerate(tokens[row * USPS_FIELDS:(row + 1) * USPS_FIELDS]):
                try:
                    float(tok)
                except ValueError:
                    raise DataError(f"{path}:{number}: field {col + 1} is not a number: "
                                    f"{tok[:20]!r}") from None
        raise DataError(f"{path}: unreadable numbers") from None
    values = values.reshape(len(line_numbers), USPS_FIELDS)
    labels, grey = values[:, 0], values[:, 1:]
    bad_label = ~np.isfinite(labels) | (labels != np.round(labels)) | (labels < 0) | (labels > 9)
    if bad_label.any():
        row = int(np.flatnonzero(bad_label)[0])
        raise DataError(f"{path}:{line_numbers[row]}: label {tokens[row * USPS_FIELDS]!r} is not "
                        "a digit 0-9")
    bad_grey = ~np.isfinite(grey) | (grey < -1.0) | (grey > 1.0)
    if bad_grey.any():
        row, col = (int(v) for v in np.argwhere(bad_grey)[0])
        raise DataError(f"{path}:{line_numbers[row]}: grey value {tokens[row * USPS_FIELDS + col + 1]!r}"
                        f" (field {col + 2}) is outside [-1, 1]")
    if expected_count is not None and len(line_numbers) != expected_count:
        raise DataError(f"{path}: {len(line_numbers)} digits; expected {expected_count}")
    x = grey.astype(np.float32).reshape(-1, 1, SIDE, SIDE)
    return x, labels.astype(np.int64)


def _load_usps_file(spec: FileSpec, path: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    key = stat_key(path)
    blob = read_bytes(path)
    data = gunzip(path, blob)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not plain text (byte {data[e.start]:#04x} at offset "
                        f"{e.start} of the decompressed data)") from None
    out = parse_usps(path, text, count)
    verify_blob(spec, path, key, blob)
    return out


# =============================================================================================
# The 16x16 conversion and the anchor's selections
# =============================================================================================

def to16(images_uint8: np.ndarray) -> torch.Tensor:
    """(N, 28, 28) uint8 -> (N, 1, 16, 16) float32 in [-1, 1], in one batched call.

    The anchor's per-image steps, in the same float32 arithmetic: ``x / 127.5 - 1.0``, then
    ``F.interpolate(..., (16, 16), mode='bilinear')`` (align_corners False). The batched result
    equals the per-image one bit for bit (tests/test_data.py checks it)."""
    arr = np.asarray(images_uint8)
    if arr.dtype != np.uint8 or arr.ndim != 3:
        raise ValueError(f"to16 expects (N, H, W) uint8 images, got {arr.dtype} {arr.shape}")
    if arr.shape[0] == 0:
        return torch.empty((0, 1, SIDE, SIDE), dtype=torch.float32)
    x = torch.from_numpy(arr.astype(np.float32)) / 127.5 - 1.0
    return F.interpolate(x[:, None], size=(SIDE, SIDE), mode="bilinear", align_corners=False)


def anchor_selection(test_first: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The anchor's MNIST indices (train (7291,), test (2007,)), in its order.

    Same stream as ``np.random.seed(1337)`` followed by ``np.random.permutation(n)[:k]`` per
    split (the legacy global generator is a RandomState), without touching the global state."""
    rng = np.random.RandomState(ANCHOR_SEED)
    if test_first:
        test = rng.permutation(MNIST_TEST)[:PAPER_TEST]
        train = rng.permutation(MNIST_TRAIN)[:PAPER_TRAIN]
    else:
        train = rng.permutation(MNIST_TRAIN)[:PAPER_TRAIN]
        test = rng.permutation(MNIST_TEST)[:PAPER_TEST]
    return train, test


# =============================================================================================
# The embedded file
# =============================================================================================

_EMBEDDED_ARRAYS = ("train_index", "train_images", "train_labels",
                    "test_index", "test_images", "test_labels")


def embedded_path() -> Path:
    """The shipped file holding the MNIST images that mnist1989 (both orders) selects."""
    return Path(str(resources.files("lecun1989").joinpath("_data", EMBEDDED_FILE)))


def build_embedded_bytes(mnist_dir: str | os.PathLike) -> bytes:
    """The embedded file's bytes, built from the four MNIST IDX files in `mnist_dir` (checked).

    Format: xz (preset EMBEDDED_XZ_PRESET) of EMBEDDED_MAGIC followed by six ``np.save``
    records in this order: train_index (int32, sorted MNIST indices), train_images (uint8
    K x 28 x 28), train_labels (uint8 K), then the same three for the test split. Each split
    holds the union of both orders' selections, each image once. np.save and xz embed no
    timestamps, so the same input gives the same bytes (for a given liblzma)."""
    tr_x, tr_y, te_x, te_y = _read_mnist_folder(Path(mnist_dir), download=False)
    (a1, b1), (a2, b2) = anchor_selection(False), anchor_selection(True)
    train_index = np.union1d(a1, a2).astype(np.int32)
    test_index = np.union1d(b1, b2).astype(np.int32)
    arrays = {
        "train_index": train_index, "train_images": np.ascontiguousarray(tr_x[train_index]),
        "train_labels": np.ascontiguousarray(tr_y[train_index]),
        "test_index": test_index, "test_images": np.ascontiguousarray(te_x[test_index]),
        "test_labels": np.ascontiguousarray(te_y[test_index]),
    }
    buf = io.BytesIO()
    buf.write(EMBEDDED_MAGIC)
    for name in _EMBEDDED_ARRAYS:
        np.save(buf, arrays[name], allow_pickle=False)
    return lzma.compress(buf.getvalue(), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                         preset=EMBEDDED_XZ_PRESET)


def payload_sha256(blob: bytes) -> str:
    """sha256 of the decompressed payload of an embedded file's bytes (see EMBEDDED_PAYLOAD_SHA256)."""
    return hashlib.sha256(lzma.decompress(blob)).hexdigest()


@lru_cache(maxsize=1)
def _embedded_arrays() -> dict[str, np.ndarray]:
    path = embedded_path()
    blob = read_bytes(path)
    fix = "reinstall the package or rebuild it with scripts/build_embedded.py"
    try:
        payload = lzma.decompress(blob, format=lzma.FORMAT_XZ)
    except (lzma.LZMAError, EOFError, ValueError) as e:
        raise DataError(f"{path}: corrupt embedded data ({reason(e)}); {fix}") from None
    if hashlib.sha256(payload).hexdigest() != EMBEDDED_PAYLOAD_SHA256:
        raise DataError(f"{path}: embedded data checksum mismatch (sha256 of the content); {fix}")
    if not payload.startswith(EMBEDDED_MAGIC):
        raise DataError(f"{path}: not a lecun1989 embedded file (bad header at byte 0); {fix}")
    buf = io.BytesIO(payload)
    buf.seek(len(EMBEDDED_MAGIC))
    arrays: dict[str, np.ndarray] = {}
    for name in _EMBEDDED_ARRAYS:
        offset = buf.tell()
        try:
            arrays[name] = np.load(buf, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"{path}: corrupt record {name} at byte offset {offset} of the "
                            f"decompressed data ({reason(e)}); {fix}") from None
    for split, total in (("train", MNIST_TRAIN), ("test", MNIST_TEST)):
        index, images, labels = (arrays[f"{split}_{k}"] for k in ("index", "images", "labels"))
        k = index.shape[0]
        ok = (index.ndim == 1 and images.shape == (k, MNIST_SIDE, MNIST_SIDE)
              and images.dtype == np.uint8 and labels.shape == (k,) and labels.dtype == np.uint8
              and k > 0 and bool(np.all(np.diff(index) > 0)) and int(index[0]) >= 0
              and int(index[-1]) < total and int(labels.max()) <= 9)
        if not ok:
            raise DataError(f"{path}: inconsistent {split} records; {fix}")
    for a in arrays.values():
        a.setflags(write=False)
    return arrays


def _embedded_split(split: str, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    arrays = _embedded_arrays()
    stored = arrays[f"{split}_index"]
    pos = np.searchsorted(stored, index)
    pos = np.minimum(pos, stored.shape[0] - 1)
    if not np.array_equal(stored[pos], index):
        raise DataError(f"{embedded_path()}: the embedded {split} images do not cover the "
                        "anchor's selection; rebuild it with scripts/build_embedded.py")
    return arrays[f"{split}_images"][pos], arrays[f"{split}_labels"][pos]


def _split(images: np.ndarray, labels: np.ndarray) -> Split:
    return Split(x=to16(images), y=torch.from_numpy(labels.astype(np.int64)))


# =============================================================================================
# Public entry points
# =============================================================================================

def _entry(name: str) -> DataSet:
    try:
        return datasets.get(name)
    except datasets.UnknownDataSet as e:
        raise DataError(str(e)) from None


def load_dataset(name: str = "mnist1989", root: str | os.PathLike | None = None, *,
                 train_size: int = 0, subset_seed: int = 1337, download: bool = True) -> Dataset:
    """Load a data set by name (its entry in datasets.py; see the module docstring).

    `root` is the data folder (see data_root); embedded sets (mnist1989, mnist1989-test-first)
    ignore it. `train_size` (0 = all) applies to sets whose entry draws a seeded subset
    (``subset="seeded"``: mnist, fashion-mnist): the first N of
    ``np.random.default_rng(subset_seed).permutation(60000)``; other sets ignore it (the trainer
    takes the first N itself). `download=False` never touches the network."""
    ds = _entry(name)
    if ds.loader == "embedded":
        return _load_embedded(ds)
    if ds.loader == "usps":
        return _load_usps(ds, root, download)
    if ds.loader == "idx":
        return _load_idx_set(ds, root, train_size, subset_seed, download)
    raise DataError(f"data set {name!r}: no reader for its loader {ds.loader!r} (datasets.LOADERS)")


def _load_embedded(ds: DataSet) -> Dataset:
    tr_idx, te_idx = anchor_selection(ds.test_first)
    order = "test-first" if ds.test_first else "train-first"
    return Dataset(
        name=ds.name,
        train=_split(*_embedded_split("train", tr_idx)),
        test=_split(*_embedded_split("test", te_idx)),
        normalisation=ds.normalisation,
        description=(f"simulated 1989 set ({order}): {PAPER_TRAIN} train + {PAPER_TEST} test "
                     f"digits of {ds.credit}, legacy numpy seed {ANCHOR_SEED}, bilinear "
                     "28x28 -> 16x16"),
    )


def _load_usps(ds: DataSet, root, download: bool) -> Dataset:
    paths = ensure(ds.name, data_root(root) / ds.folder, download, root_source(root))
    splits = []
    for spec, count in zip(files_of(ds.name), (ds.train_size, ds.test_size)):
        x, y = _load_usps_file(spec, paths[spec.filename], count)
        splits.append(Split(x=torch.from_numpy(x), y=torch.from_numpy(y)))
    return Dataset(name=ds.name, train=splits[0], test=splits[1], normalisation=ds.normalisation,
                   description=f"{ds.credit}: {ds.train_size} train + {ds.test_size} test "
                               "digits, 16x16 grey values in [-1, 1]")


def _load_idx_set(ds: DataSet, root, train_size: int, subset_seed: int, download: bool) -> Dataset:
    if not ds.fits(train_size):
        raise DataError(f"train_size must be 0 (all) to {ds.train_size} for '{ds.name}', got {train_size}")
    tr_x, tr_y, te_x, te_y = _read_idx_folder(ds.name, data_root(root) / ds.folder, download, root_source(root))
    if train_size:
        pick = np.random.default_rng(subset_seed).permutation(tr_x.shape[0])[:train_size]
        tr_x, tr_y = tr_x[pick], tr_y[pick]
        what = f"{train_size} train digits (subset seed {subset_seed})"
    else:
        what = f"all {tr_x.shape[0]} train digits"
    if ds.test_pick == "mnist1989":
        _, te_idx = anchor_selection(False)
        te_x, te_y = te_x[te_idx], te_y[te_idx]
        tested = f"the {PAPER_TEST} mnist1989 test digits"
    else:
        tested = f"all {te_x.shape[0]} test digits"
    return Dataset(name=ds.name, train=_split(tr_x, tr_y), test=_split(te_x, te_y),
                   normalisation=ds.normalisation,
                   description=f"{ds.credit}: {what} + {tested}, bilinear 28x28 -> 16x16")


def data_key(cfg) -> tuple[str, int]:
    """What the data a run of `cfg` (a config.Config) loads depends on: the set, and the size of
    a seeded subset (a cache of loaded data sets is keyed by it)."""
    return cfg.data, datasets.get(cfg.data).loaded_train_size(cfg.train_size)


def load_data(cfg, root: str | os.PathLike | None = None) -> Dataset:
    """The data set a run of `cfg` trains on (a seeded subset drawn here when its entry says so;
    the trainer takes the first `train_size` of the others)."""
    name, train_size = data_key(cfg)
    return load_dataset(name, root, train_size=train_size)


def load_usps_train(root: str | os.PathLike | None = None, *, download: bool = False) -> Split:
    """The 7291 USPS training digits alone (zip.train.gz, checked as load_dataset checks it),
    without reading or needing zip.test.gz: for searches that must never see the test set
    (lecun1989.hunt)."""
    spec = files_of("usps")[0]
    folder = data_root(root) / datasets.get("usps").folder
    path = locate(spec, folder)
    if path is None and download:
        failures: list[str] = []
        path = download_file(spec, folder, failures)
    if path is None:
        raise DataError(f"missing data for 'usps': {spec.filename} (from {' or '.join(spec.urls())}). "
                        f"Put the file in {folder} (or choose another data folder with LECUN1989_DATA)")
    x, y = _load_usps_file(spec, path, datasets.get("usps").train_size)
    return Split(x=torch.from_numpy(x), y=torch.from_numpy(y))


def fetch(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Download (if missing) and verify every file data set `name` needs; returns their paths.

    A file already present is checked, not replaced: a bad one raises DataError (delete it and
    fetch again). mnist1989 and mnist1989-test-first are embedded: the embedded file is checked."""
    ds = _entry(name)
    if not ds.downloaded:
        _embedded_arrays()
        return [embedded_path()]
    paths = ensure(name, data_root(root) / ds.folder, download=True, source=root_source(root))
    out = []
    for spec in files_of(name):
        path = paths[spec.filename]
        verify_file(spec, path)
        out.append(path)
    return out


def status(root: str | os.PathLike | None = None, *, verify: bool = True) -> list[dict]:
    """One row per data set and file: name, file, path, present, verified (True/False, or None
    when absent or `verify` is False), url (the first mirror; "" when embedded), note."""
    base = data_root(root)
    rows: list[dict] = []
    for name in DATASET_NAMES:
        if not datasets.get(name).downloaded:
            path = embedded_path()
            present = path.is_file()
            verified, note = None, "embedded in the package"
            if present and verify:
                try:
                    _embedded_arrays()
                    verified = True
                except DataError as e:
                    verified, note = False, str(e)
            rows.append(dict(name=name, file=EMBEDDED_FILE, path=str(path), present=present,
                             verified=verified, url="", note=note))
            continue
        for spec in files_of(name):
            folder = base / spec.entry.folder
            verified = None
            try:
                path = locate(spec, folder)
            except DataError as e:          # something else than a file where the file should be
                rows.append(dict(name=name, file=spec.filename, path=str(spec.candidates(folder)[0]),
                                 present=True, verified=False, url=spec.urls()[0], note=str(e)))
                continue
            if path is None:
                note = f"downloaded on first use into {folder}"
            else:
                note = "not checked (lecun1989 data verify checks it)"
                if verify:
                    try:
                        verify_file(spec, path)
                        verified, note = True, "checksum ok"
                    except DataError as e:
                        verified, note = False, str(e)
            rows.append(dict(name=name, file=spec.filename,
                             path=str(path if path is not None else spec.candidates(folder)[0]),
                             present=path is not None, verified=verified, url=spec.urls()[0],
                             note=note))
    return rows
