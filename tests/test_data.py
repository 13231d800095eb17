"""Tests for lecun1989.data: the real files (from ../shared/data via the `shared_data` fixture)
for the real paths, fake files in tmp_path for the error paths, file:// "mirrors" for downloads.
No test touches the network: an autouse fixture points every mirror at an empty local folder."""

from __future__ import annotations

import dataclasses
import gzip
import lzma
import shutil
import struct
import urllib.request
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lecun1989 import data, datasets
from lecun1989.config import Config
from lecun1989.data import DataError

MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
USPS_TRAIN_COUNTS = [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]  # docs/reference.md
USPS_TEST_COUNTS = [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]


@pytest.fixture(autouse=True)
def no_network(tmp_path_factory, monkeypatch):
    """Every mirror points at an empty local folder unless a test says otherwise."""
    empty = tmp_path_factory.mktemp("no-mirror")
    for entry in datasets.REGISTRY.values():
        if entry.downloaded:
            set_mirrors(monkeypatch, entry.name, empty.as_uri() + "/")
    monkeypatch.setattr(urllib.request, "urlopen", _refuse)


def set_mirrors(monkeypatch, name: str, *mirrors: str) -> None:
    """Data set `name` downloads from `mirrors` (file:// folders) for this test."""
    monkeypatch.setitem(datasets.REGISTRY, name, dataclasses.replace(datasets.REGISTRY[name], mirrors=mirrors))


# -- helpers: an independent reader and the anchor's per-image procedure -----------------------

def _raw_idx(path: Path, header: int) -> np.ndarray:
    return np.frombuffer(gzip.decompress(path.read_bytes()), dtype=np.uint8, offset=header)


@pytest.fixture(scope="module")
def mnist_raw(shared_data):
    d = shared_data / "mnist"
    return (_raw_idx(d / MNIST_FILES[0], 16).reshape(-1, 28, 28), _raw_idx(d / MNIST_FILES[1], 8),
            _raw_idx(d / MNIST_FILES[2], 16).reshape(-1, 28, 28), _raw_idx(d / MNIST_FILES[3], 8))


def _anchor_image(img: np.ndarray) -> torch.Tensor:
    """The anchor script's conversion of one 28x28 uint8 image (docs/reference.md)."""
    xi = torch.from_numpy(np.array(img, dtype=np.float32)) / 127.5 - 1.0
    return F.interpolate(xi[None, None], (16, 16), mode="bilinear")[0]


def _gz(path: Path, payload: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload, mtime=0))
    return path


def _idx_images(count: int, rows: int = 28, cols: int = 28, magic: int = 2051,
                n_data: int | None = None) -> bytes:
    n = count * rows * cols if n_data is None else n_data
    return struct.pack(">IIII", magic, count, rows, cols) + bytes(n)


def _idx_labels(labels: np.ndarray, magic: int = 2049, count: int | None = None) -> bytes:
    return struct.pack(">II", magic, len(labels) if count is None else count) + \
        labels.astype(np.uint8).tobytes()


def _mnist_root(tmp_path: Path, shared_data: Path, **fakes: bytes) -> Path:
    """tmp_path/mnist with the real files linked in, except those given as fakes
    (key: file name without "-ubyte.gz" and with "_" for "-"; value: decompressed content)."""
    folder = tmp_path / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for name in MNIST_FILES:
        key = name.replace("-ubyte.gz", "").replace("-", "_")
        if key in fakes:
            _gz(folder / name, fakes[key])
        else:
            (folder / name).symlink_to(shared_data / "mnist" / name)
    return tmp_path


_urlopen = urllib.request.urlopen


def _refuse(url, *args, **kwargs):
    """urlopen for local files only: a test that reaches for the network fails."""
    if not str(url).startswith("file:"):
        raise AssertionError(f"no network access in tests: {url}")
    return _urlopen(url, *args, **kwargs)


def _usps_line(label: str = "3", values: list[str] | None = None) -> str:
    values = values if values is not None else ["-1"] * 256
    return " ".join([label] + values) + "\n"


# == the anchor's selections and the simulated 1989 sets ======================================

def test_anchor_selection_is_the_legacy_global_stream():
    state = np.random.get_state()
    try:
        np.random.seed(1337)
        tr = np.random.permutation(60000)[:7291]
        te = np.random.permutation(10000)[:2007]
        np.random.seed(1337)
        te2 = np.random.permutation(10000)[:2007]
        tr2 = np.random.permutation(60000)[:7291]
    finally:
        np.random.set_state(state)
    a, b = data.anchor_selection(test_first=False)
    assert np.array_equal(a, tr) and np.array_equal(b, te)
    a, b = data.anchor_selection(test_first=True)
    assert np.array_equal(a, tr2) and np.array_equal(b, te2)
    assert not np.array_equal(tr, tr2)  # the two orders really are different data sets


@pytest.mark.parametrize("name,test_first", [("mnist1989", False), ("mnist1989-test-first", True)])
def test_mnist1989_equals_anchor_per_image_bit_for_bit(name, test_first, mnist_raw, monkeypatch,
                                                       tmp_path):
    monkeypatch.setenv("LECUN1989_DATA", str(tmp_path / "empty"))  # embedded: no root needed
    ds = data.load_dataset(name, download=False)
    assert ds.name == name and ds.normalisation == "mnist"
    assert "\n" not in ds.description and "7291" in ds.description
    tr_x, tr_y, te_x, te_y = mnist_raw
    state = np.random.get_state()
    try:  # the anchor's own code path: the legacy global generator
        np.random.seed(1337)
        if test_first:
            te_i = np.random.permutation(10000)[:2007]
            tr_i = np.random.permutation(60000)[:7291]
        else:
            tr_i = np.random.permutation(60000)[:7291]
            te_i = np.random.permutation(10000)[:2007]
    finally:
        np.random.set_state(state)
    for split, images, labels, idx in ((ds.train, tr_x, tr_y, tr_i), (ds.test, te_x, te_y, te_i)):
        assert split.x.dtype == torch.float32 and split.x.shape == (len(idx), 1, 16, 16)
        assert split.y.dtype == torch.int64 and split.y.shape == (len(idx),)
        expected = torch.stack([_anchor_image(images[i]) for i in idx])
        assert torch.equal(split.x, expected)
        assert torch.equal(split.y, torch.from_numpy(labels[idx].astype(np.int64)))
        assert float(split.x.min()) >= -1.0 and float(split.x.max()) <= 1.0


def test_embedded_file_rebuilds_byte_identically(shared_data):
    shipped = data.embedded_path().read_bytes()
    assert len(shipped) < 4_000_000
    assert data.build_embedded_bytes(shared_data / "mnist") == shipped
    assert data.payload_sha256(shipped) == data.EMBEDDED_PAYLOAD_SHA256


@pytest.fixture
def fake_embedded(tmp_path, monkeypatch):
    """Point the loader at a writable copy of the embedded file; reset its cache around the test."""
    copy = tmp_path / data.EMBEDDED_FILE
    copy.write_bytes(data.embedded_path().read_bytes())
    monkeypatch.setattr(data, "embedded_path", lambda: copy)
    data._embedded_arrays.cache_clear()
    yield copy
    data._embedded_arrays.cache_clear()


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "other-content"])
def test_corrupt_embedded_file_is_a_data_error(fake_embedded, damage):
    blob = fake_embedded.read_bytes()
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "flip":
        blob = blob[:1000] + bytes([blob[1000] ^ 0xFF]) + blob[1001:]
    elif damage == "garbage":
        blob = b"not an xz file at all"
    else:  # a well-formed xz file holding something else
        blob = lzma.compress(data.EMBEDDED_MAGIC + b"\x93NUMPY junk")
    fake_embedded.write_bytes(blob)
    with pytest.raises(DataError, match=data.EMBEDDED_FILE):
        data.load_dataset("mnist1989")
    with pytest.raises(DataError):
        data.fetch("mnist1989")
    row = next(r for r in data.status() if r["name"] == "mnist1989")
    assert row["verified"] is False


# == to16 ====================================================================================

def test_to16_batched_equals_per_image_and_checks_input():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    images[0] = 0
    images[1] = 255
    out = data.to16(images)
    assert out.shape == (50, 1, 16, 16) and out.dtype == torch.float32
    assert torch.equal(out, torch.stack([_anchor_image(im) for im in images]))
    assert torch.all(out[0] == -1.0) and torch.all(out[1] == 1.0)
    assert data.to16(images[:0]).shape == (0, 1, 16, 16)
    with pytest.raises(ValueError):
        data.to16(images.astype(np.float32))
    with pytest.raises(ValueError):
        data.to16(images[0])


# == USPS ====================================================================================

def test_usps_real_files(shared_data):
    ds = data.load_dataset("usps", shared_data, download=False)
    assert ds.normalisation == "usps" and "Hastie" in ds.description
    for split, n, counts in ((ds.train, 7291, USPS_TRAIN_COUNTS), (ds.test, 2007, USPS_TEST_COUNTS)):
        assert split.x.shape == (n, 1, 16, 16) and split.x.dtype == torch.float32
        assert split.y.dtype == torch.int64
        assert torch.bincount(split.y, minlength=10).tolist() == counts
        assert float(split.x.min()) == -1.0 and float(split.x.max()) == 1.0
    # not quantised: far more than 256 distinct grey levels
    assert torch.unique(ds.train.x).numel() > 1000
    # first training line: "6.0000 -1.0000 (7 times) -0.6310 0.8620 ..."; row-major 16x16
    assert int(ds.train.y[0]) == 6
    assert ds.train.x[0, 0, 0, 7].item() == np.float32(-0.631)
    assert ds.train.x[0, 0, 0, 8].item() == np.float32(0.862)


def test_usps_values_are_the_nearest_float32(shared_data):
    """float32(float64(token)) equals the correctly rounded float32 of every distinct token."""
    tokens = set()
    for name in ("zip.train.gz", "zip.test.gz"):
        for line in gzip.decompress((shared_data / "usps" / name).read_bytes()).decode().splitlines():
            tokens.update(line.split()[1:])
    for tok in tokens:
        f = np.float32(float(tok))
        exact = Fraction(tok)
        err = abs(Fraction(float(f)) - exact)
        for nb in (np.nextafter(f, np.float32(-2)), np.nextafter(f, np.float32(2))):
            assert err <= abs(Fraction(float(nb)) - exact), tok


@pytest.mark.parametrize("bad_line,pattern", [
    (_usps_line(values=["-1"] * 255), r"zip\.train\.gz:3: 256 fields; expected 257"),
    (_usps_line(values=["-1"] * 100 + ["1.5"] + ["-1"] * 155), r"zip\.train\.gz:3: grey value '1\.5' \(field 102\)"),
    (_usps_line(values=["nan"] + ["-1"] * 255), r"zip\.train\.gz:3: grey value 'nan'"),
    (_usps_line(label="12"), r"zip\.train\.gz:3: label '12' is not a digit"),
    (_usps_line(label="2.5"), r"zip\.train\.gz:3: label '2\.5'"),
    (_usps_line(values=["-1"] * 10 + ["abc"] + ["-1"] * 245), r"zip\.train\.gz:3: field 12 is not a number: 'abc'"),
])
def test_usps_bad_lines_name_file_and_line(tmp_path, bad_line, pattern):
    text = _usps_line() + "\n" + bad_line + _usps_line()  # line 2 blank, line 3 bad
    _gz(tmp_path / "usps" / "zip.train.gz", text.encode())
    _gz(tmp_path / "usps" / "zip.test.gz", _usps_line().encode())
    with pytest.raises(DataError, match=pattern):
        data.load_dataset("usps", tmp_path, download=False)


def test_usps_wrong_count_corrupt_gzip_and_binary(tmp_path, shared_data):
    folder = tmp_path / "usps"
    _gz(folder / "zip.train.gz", (_usps_line() * 3).encode())
    shutil.copy(shared_data / "usps" / "zip.test.gz", folder / "zip.test.gz")
    with pytest.raises(DataError, match=r"zip\.train\.gz: 3 digits; expected 7291"):
        data.load_dataset("usps", tmp_path, download=False)
    (folder / "zip.train.gz").write_bytes(b"\x1f\x8b\x08\x00 this is not deflate data")
    with pytest.raises(DataError, match=r"zip\.train\.gz: not a valid gzip file"):
        data.load_dataset("usps", tmp_path, download=False)
    real = (shared_data / "usps" / "zip.train.gz").read_bytes()
    (folder / "zip.train.gz").write_bytes(real[: len(real) // 2])  # truncated download
    with pytest.raises(DataError, match=r"zip\.train\.gz: not a valid gzip file"):
        data.load_dataset("usps", tmp_path, download=False)
    _gz(folder / "zip.train.gz", _usps_line().encode() + b"\xff\xfe\n")
    with pytest.raises(DataError, match=r"zip\.train\.gz:2: not plain text"):
        data.load_dataset("usps", tmp_path, download=False)


# == MNIST ===================================================================================

def test_mnist_full_and_subset(shared_data, mnist_raw):
    full = data.load_dataset("mnist", shared_data, download=False)
    assert full.train.x.shape == (60000, 1, 16, 16) and full.normalisation == "mnist"
    tr_x, tr_y, _, _ = mnist_raw
    assert torch.equal(full.train.y, torch.from_numpy(tr_y.astype(np.int64)))
    for i in (0, 1, 59999):
        assert torch.equal(full.train.x[i], _anchor_image(tr_x[i]))
    ref = data.load_dataset("mnist1989")
    assert torch.equal(full.test.x, ref.test.x) and torch.equal(full.test.y, ref.test.y)

    sub = data.load_dataset("mnist", shared_data, train_size=1000, subset_seed=7, download=False)
    pick = torch.from_numpy(np.random.default_rng(7).permutation(60000)[:1000])
    assert torch.equal(sub.train.x, full.train.x[pick]) and torch.equal(sub.train.y, full.train.y[pick])
    assert torch.equal(sub.test.x, ref.test.x)
    assert "1000" in sub.description
    with pytest.raises(DataError, match="train_size"):
        data.load_dataset("mnist", shared_data, train_size=60001, download=False)


def test_mnist_raw_files_accepted(tmp_path, shared_data):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in MNIST_FILES:
        (folder / name[:-3]).write_bytes(gzip.decompress((shared_data / "mnist" / name).read_bytes()))
    rows = [r for r in data.status(tmp_path) if r["name"] == "mnist"]
    assert [r["verified"] for r in rows] == [True] * 4
    assert all(r["path"].endswith("-ubyte") for r in rows)
    paths = data.fetch("mnist", tmp_path)
    assert [p.name for p in paths] == [n[:-3] for n in MNIST_FILES]


# Each fake replaces one file; the others are the real ones (read in order train-images,
# train-labels, t10k-images, t10k-labels), so the error must come from the fake.
_LABELS = np.zeros(60000, dtype=np.uint8)
_LABELS_12 = _LABELS.copy()
_LABELS_12[5] = 12


@pytest.mark.parametrize("fake,pattern", [
    (dict(train_images_idx3=_idx_images(60000, magic=2049, n_data=0)),
     r"train-images-idx3-ubyte\.gz: bad IDX magic number 2049 at byte offset 0"),
    (dict(train_images_idx3=_idx_images(60000, rows=16, cols=16, n_data=0)),
     r"train-images-idx3-ubyte\.gz: image size 16x16 at byte offset 8"),
    (dict(train_images_idx3=_idx_images(100)),
     r"train-images-idx3-ubyte\.gz: header says 100 images .*expected 60000"),
    (dict(train_images_idx3=_idx_images(60000, n_data=5000)),
     r"train-images-idx3-ubyte\.gz: truncated: header says 60000 images .*byte offset 5016"),
    (dict(train_images_idx3=b"\x00\x00\x08"),
     r"train-images-idx3-ubyte\.gz: truncated IDX header"),
    (dict(train_labels_idx1=_idx_labels(_LABELS[:59999])),
     r"train-labels-idx1-ubyte\.gz: header says 59999 labels .*expected 60000"),
    (dict(train_labels_idx1=_idx_labels(_LABELS) + b"xyz"),
     r"train-labels-idx1-ubyte\.gz: 3 unexpected trailing bytes from byte offset 60008"),
    (dict(train_labels_idx1=_idx_labels(_LABELS_12)),
     r"train-labels-idx1-ubyte\.gz: label 12 at byte offset 13"),
    (dict(train_labels_idx1=_idx_labels(_LABELS, magic=2051)),
     r"train-labels-idx1-ubyte\.gz: bad IDX magic number 2051"),
    (dict(t10k_labels_idx1=_idx_labels(_LABELS)),
     r"t10k-labels-idx1-ubyte\.gz: header says 60000 labels .*expected 10000"),
    # structurally valid but not the published content: the checksum catches it
    (dict(t10k_labels_idx1=_idx_labels(np.zeros(10000, dtype=np.uint8))),
     r"t10k-labels-idx1-ubyte\.gz: MD5 checksum mismatch.*delete it and fetch it again"),
])
def test_mnist_bad_files_name_file_and_offset(tmp_path, shared_data, fake, pattern):
    root = _mnist_root(tmp_path, shared_data, **fake)
    with pytest.raises(DataError, match=pattern):
        data.load_dataset("mnist", root, download=False)


def test_mnist_corrupt_gzip(tmp_path, shared_data):
    root = _mnist_root(tmp_path, shared_data)
    target = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    real = target.read_bytes()
    target.unlink()
    target.write_bytes(real[:100])
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: not a valid gzip file"):
        data.load_dataset("mnist", root, download=False)
    target.write_bytes(b"garbage, not gzip")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: not a valid gzip file"):
        data.load_dataset("mnist", root, download=False)


# == downloads, cache, missing files =========================================================

def _no_temp_files(folder: Path) -> bool:
    return not any(p.name.startswith(".") or p.suffix == ".part" for p in folder.iterdir())


def test_fetch_from_local_mirror(tmp_path, shared_data, monkeypatch):
    set_mirrors(monkeypatch, "usps", *((shared_data / "usps").as_uri() + "/",))
    root = tmp_path / "root"
    root.mkdir()                # a data folder given by the caller is never created (a typo would be)
    paths = data.fetch("usps", root)
    assert [p.name for p in paths] == ["zip.train.gz", "zip.test.gz"]
    for p in paths:
        assert p.parent == root / "usps"
        assert p.read_bytes() == (shared_data / "usps" / p.name).read_bytes()
    assert _no_temp_files(root / "usps")
    assert data.load_dataset("usps", root).train.x.shape == (7291, 1, 16, 16)


def test_fetch_falls_back_to_second_mirror(tmp_path, shared_data, monkeypatch):
    first = tmp_path / "first"
    first.mkdir()
    set_mirrors(monkeypatch, "mnist", *(first.as_uri() + "/",
                                               (shared_data / "mnist").as_uri() + "/"))
    root = tmp_path / "root"
    root.mkdir()
    paths = data.fetch("mnist", root)
    assert [p.name for p in paths] == list(MNIST_FILES)
    assert all(p.read_bytes() == (shared_data / "mnist" / p.name).read_bytes() for p in paths)
    assert _no_temp_files(root / "mnist")
    assert all(r["verified"] for r in data.status(root) if r["name"] == "mnist")


def test_download_with_wrong_checksum_is_discarded(tmp_path, shared_data, monkeypatch):
    fake = tmp_path / "fake-mirror"
    _gz(fake / "zip.train.gz", _usps_line().encode())
    _gz(fake / "zip.test.gz", _usps_line().encode())
    set_mirrors(monkeypatch, "usps", *(fake.as_uri() + "/",))
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(DataError) as err:
        data.fetch("usps", root)
    msg = str(err.value)
    assert "checksum mismatch, download discarded" in msg and "zip.train.gz" in msg
    assert list((root / "usps").iterdir()) == []  # nothing kept, no temp files either
    # a bad first mirror followed by a good one: the good copy wins
    set_mirrors(monkeypatch, "usps", *(fake.as_uri() + "/",
                                              (shared_data / "usps").as_uri() + "/"))
    assert len(data.fetch("usps", root)) == 2
    assert _no_temp_files(root / "usps")


def test_missing_files_offline_one_message(tmp_path, monkeypatch):
    root = tmp_path / "nothing-here"
    # the real mirror list, to check the message; download=False never opens a URL (and the
    # autouse fixture makes any http(s) attempt fail the test)
    set_mirrors(monkeypatch, "mnist", *("https://ossci-datasets.s3.amazonaws.com/mnist/",
                                               "http://yann.lecun.com/exdb/mnist/"))
    with pytest.raises(DataError) as err:
        data.load_dataset("mnist", root, download=False)
    msg = str(err.value)
    assert "\n" not in msg
    for name in MNIST_FILES:
        assert name in msg
        assert "https://ossci-datasets.s3.amazonaws.com/mnist/" + name in msg
        assert "http://yann.lecun.com/exdb/mnist/" + name in msg
    assert str(root / "mnist") in msg
    assert not root.exists()  # download=False creates nothing

    # with downloads on, a data folder given by the caller that does not exist is not created
    with pytest.raises(DataError, match="does not exist.*--data-root or LECUN1989_DATA"):
        data.load_dataset("usps", root)
    assert not root.exists()
    # with downloads on but every mirror unreachable: same message plus the reasons
    root.mkdir()
    with pytest.raises(DataError) as err:
        data.load_dataset("usps", root)
    msg = str(err.value)
    assert "zip.train.gz" in msg and "zip.test.gz" in msg and "download failed" in msg
    assert str(root / "usps") in msg
    assert _no_temp_files(root / "usps")


def test_cached_file_checked_again_after_it_changes(tmp_path, shared_data):
    folder = tmp_path / "usps"
    folder.mkdir()
    for name in ("zip.train.gz", "zip.test.gz"):
        shutil.copy(shared_data / "usps" / name, folder / name)
    assert len(data.fetch("usps", tmp_path)) == 2
    blob = bytearray((folder / "zip.test.gz").read_bytes())
    blob[-9] ^= 0x01  # one changed byte: same size, new mtime
    (folder / "zip.test.gz").write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"zip\.test\.gz: sha256 checksum mismatch.*delete it"):
        data.fetch("usps", tmp_path)
    rows = [r for r in data.status(tmp_path) if r["file"] == "zip.test.gz"]
    assert rows[0]["present"] is True and rows[0]["verified"] is False


# == roots, status, names ====================================================================

def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("LECUN1989_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert data.data_root() == tmp_path / "env"
    monkeypatch.delenv("LECUN1989_DATA")
    assert data.data_root() == tmp_path / "xdg" / "lecun1989"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.data_root() == tmp_path / "home" / ".cache" / "lecun1989"


def test_status_rows(tmp_path, shared_data):
    rows = data.status(tmp_path / "empty")
    assert {r["name"] for r in rows} == set(data.DATASET_NAMES)
    keys = {"name", "file", "path", "present", "verified", "url", "note"}
    assert all(set(r) == keys for r in rows)
    for r in rows:
        if datasets.get(r["name"]).downloaded:
            assert r["present"] is False and r["verified"] is None and r["url"].startswith("file://")
        else:
            assert r["present"] is True and r["verified"] is True
    assert len([r for r in rows if r["name"] == "mnist"]) == 4
    on_disk = [r for r in data.status(shared_data) if (shared_data / datasets.get(r["name"]).folder).is_dir()
               or not datasets.get(r["name"]).downloaded]
    assert {r["name"] for r in on_disk} >= {"mnist1989", "usps", "mnist"}
    assert all(r["verified"] is True for r in on_disk)
    assert all(r["verified"] is None for r in data.status(shared_data, verify=False))


def test_unknown_name(tmp_path):
    with pytest.raises(DataError, match="unknown data set 'mnist1990'"):
        data.load_dataset("mnist1990", tmp_path)
    with pytest.raises(DataError, match="unknown data set"):
        data.fetch("emnist", tmp_path)
    assert data.DATASET_NAMES == ("mnist1989", "mnist1989-test-first", "usps", "mnist", "fashion-mnist")


# == Fashion-MNIST: an IDX set of the registry, on fake files of the real layout ================

def _fake_idx_set(folder: Path) -> dict[str, bytes]:
    """Fake Fashion-MNIST files (60,000 and 10,000 28x28 images, mostly blank, labels 0-9)
    in `folder`; returns the decompressed content of each, by file name."""
    rng = np.random.default_rng(5)
    content = {}
    for split, n in (("train", 60000), ("t10k", 10000)):
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        images[:3] = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
        images[-1] = 255
        content[f"{split}-images-idx3-ubyte.gz"] = struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes()
        content[f"{split}-labels-idx1-ubyte.gz"] = _idx_labels(np.arange(n) % 10)
    for name, payload in content.items():
        _gz(folder / name, payload)
    return content


def _trust_fakes(monkeypatch, folder: Path) -> None:
    """The fashion-mnist entry with the fake files' MD5s in place of the published ones."""
    import hashlib
    entry = datasets.REGISTRY["fashion-mnist"]
    files = tuple(dataclasses.replace(f, checksum="md5:" + hashlib.md5((folder / f.name).read_bytes()).hexdigest())
                  for f in entry.files)
    monkeypatch.setitem(datasets.REGISTRY, "fashion-mnist", dataclasses.replace(entry, files=files))


def test_fashion_mnist_entry():
    ds = datasets.get("fashion-mnist")
    assert ds.loader == "idx" and ds.normalisation == "mnist" and ds.subset == "seeded"
    assert (ds.train_size, ds.test_size, ds.folder) == (60000, 10000, "fashion-mnist")
    assert [f.name for f in ds.files] == list(MNIST_FILES) and all(f.algorithm == "md5" for f in ds.files)
    Config(data="fashion-mnist", train_size=100)        # a valid config


def test_fashion_mnist_loads_through_the_1989_conversion(tmp_path, monkeypatch):
    content = _fake_idx_set(tmp_path / "fashion-mnist")
    _trust_fakes(monkeypatch, tmp_path / "fashion-mnist")
    full = data.load_dataset("fashion-mnist", tmp_path, download=False)
    assert full.train.x.shape == (60000, 1, 16, 16) and full.test.x.shape == (10000, 1, 16, 16)
    assert full.normalisation == "mnist" and "Fashion-MNIST" in full.description
    train_images = np.frombuffer(content["train-images-idx3-ubyte.gz"], np.uint8, offset=16).reshape(-1, 28, 28)
    for i in (0, 1, 2, 59999):
        assert torch.equal(full.train.x[i], _anchor_image(train_images[i]))
    assert torch.equal(full.test.y, torch.arange(10000) % 10)
    sub = data.load_dataset("fashion-mnist", tmp_path, train_size=500, subset_seed=3, download=False)
    pick = torch.from_numpy(np.random.default_rng(3).permutation(60000)[:500])
    assert torch.equal(sub.train.x, full.train.x[pick]) and torch.equal(sub.test.y, full.test.y)
    with pytest.raises(DataError, match="train_size must be 0 \\(all\\) to 60000 for 'fashion-mnist'"):
        data.load_dataset("fashion-mnist", tmp_path, train_size=60001, download=False)


def test_fashion_mnist_checks_the_published_checksums(tmp_path):
    _fake_idx_set(tmp_path / "fashion-mnist")       # fakes: not the published files
    with pytest.raises(DataError, match=r"fashion-mnist/train-images-idx3-ubyte\.gz: MD5 checksum mismatch.*delete it"):
        data.load_dataset("fashion-mnist", tmp_path, download=False)
    rows = [r for r in data.status(tmp_path) if r["name"] == "fashion-mnist"]
    assert len(rows) == 4 and all(r["verified"] is False for r in rows)


def test_fashion_mnist_download_and_missing_message(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    _fake_idx_set(mirror)
    _trust_fakes(monkeypatch, mirror)
    set_mirrors(monkeypatch, "fashion-mnist", (tmp_path / "empty-first").as_uri() + "/", mirror.as_uri() + "/")
    root = tmp_path / "root"
    root.mkdir()
    paths = data.fetch("fashion-mnist", root)
    assert [p.name for p in paths] == list(MNIST_FILES) and all(p.parent == root / "fashion-mnist" for p in paths)
    assert _no_temp_files(root / "fashion-mnist")
    assert data.load_dataset("fashion-mnist", root).test.x.shape == (10000, 1, 16, 16)

    monkeypatch.undo()          # the real entry: its published mirrors in the one-line message
    with pytest.raises(DataError) as err:
        data.load_dataset("fashion-mnist", tmp_path / "nothing", download=False)
    msg = str(err.value)
    assert "\n" not in msg and "missing data for 'fashion-mnist'" in msg
    for name in MNIST_FILES:
        assert "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" + name in msg
    assert str(tmp_path / "nothing" / "fashion-mnist") in msg


def test_fashion_mnist_trains_like_any_set(tmp_path, monkeypatch):
    from lecun1989 import train
    _fake_idx_set(tmp_path / "fashion-mnist")
    _trust_fakes(monkeypatch, tmp_path / "fashion-mnist")
    cfg = Config(data="fashion-mnist", train_size=50, passes=1)
    train.check_train_size(cfg)
    with pytest.raises(Exception, match="exceeds the 60,000 training digits of fashion-mnist"):
        train.check_train_size(cfg.with_overrides(train_size=60001))
    ds = train.load_data(cfg, tmp_path)            # the seeded subset of 50, drawn when loading
    assert len(ds.train) == 50 and len(ds.test) == 10000
    result = train.run(cfg, engine="torch", data=ds, progress=False)
    assert result.final("train")["n"] == 50 and result.final("test")["n"] == 10000
