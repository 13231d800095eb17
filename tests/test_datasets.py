"""The data-set registry (datasets.py): every entry complete, every name one entry, and no place
that falls back to MNIST for a name it does not know."""

from __future__ import annotations

import pytest

from lecun1989 import data, datasets
from lecun1989.config import DATASETS, Config, ConfigError


def test_names_come_from_the_registry():
    assert DATASETS == datasets.NAMES == data.DATASET_NAMES == tuple(datasets.REGISTRY)


@pytest.mark.parametrize("name", datasets.NAMES)
def test_every_entry_is_complete(name):
    ds = datasets.get(name)
    assert ds.name == name and ds.help and ds.credit and ds.train_size > 0 and ds.test_size > 0
    assert ds.downloaded == (ds.loader != "embedded")
    for f in ds.files:
        assert f.algorithm in ("md5", "sha256") and len(f.digest) == {"md5": 32, "sha256": 64}[f.algorithm]
        assert all(url.endswith("/" + f.name) for url in ds.urls(f)) and ds.urls(f)
    if ds.loader == "idx":
        assert len(ds.files) == 4 and ds.normalisation == "mnist"
    assert ds.loaded_train_size(100) == (100 if ds.subset == "seeded" else 0)


def test_an_unknown_name_is_an_error_never_mnist(tmp_path):
    with pytest.raises(datasets.UnknownDataSet, match="unknown data set 'emnist'; choose one of mnist1989"):
        datasets.get("emnist")
    with pytest.raises(data.DataError, match="unknown data set 'emnist'"):
        data.load_dataset("emnist", tmp_path, download=False)
    with pytest.raises(ConfigError, match="data must be one of"):
        Config(data="emnist")


def test_an_entry_must_be_consistent():
    with pytest.raises(ValueError, match="loader"):
        datasets.DataSet("x", "h", "csv", "mnist", 1, 1, "first", "c")
    with pytest.raises(ValueError, match="files and mirrors"):
        datasets.DataSet("x", "h", "idx", "mnist", 1, 1, "first", "c")
