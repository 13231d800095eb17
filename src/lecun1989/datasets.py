"""Every data set lecun1989 knows: one `DataSet` entry each, carrying all its facts.

An entry says what the set is (name, one-line help, credit), where its files come from (mirrors,
tried in turn, and each file's published checksum), which reader of data.py turns them into
16x16 digits (`loader`), how a raw image is normalised for a net trained on it (`normalisation`,
read by predict.py), the sizes of its splits, and what ``--train-size N`` takes from it
(`subset`: a seeded subset, or the first N). Every other module asks the entry; none compares
data set names. A new data set of an existing kind (IDX files of 28x28 images, say) is one more
entry below, nothing else.

Plain Python with no imports from the package: config.py reads the names from here without
loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass

# The paper's split (LeCun et al. 1989): 7291 training and 2007 test digits.
PAPER_TRAIN = 7291
PAPER_TEST = 2007
# The IDX files of MNIST and its look-alikes: 60,000 training and 10,000 test images.
IDX_TRAIN = 60_000
IDX_TEST = 10_000

LOADERS = ("embedded", "idx", "usps")          # the readers of data.py (data.load_dataset)
NORMALISATIONS = ("mnist", "usps")             # the preparations of predict.to_input
SUBSETS = ("seeded", "first")


class UnknownDataSet(ValueError):
    """A data set name that no entry has; the message lists the known ones."""


@dataclass(frozen=True)
class DataFile:
    """One downloadable file and its published checksum."""

    name: str           # the file name as downloaded (the .gz)
    checksum: str       # "md5:<hex>" or "sha256:<hex>" of the file as downloaded
    raw_md5: str = ""   # MD5 of the decompressed content ("" = unknown): then a re-compressed copy
                        # (other gzip settings) or the decompressed file itself is accepted too

    @property
    def stem(self) -> str:
        return self.name[:-3] if self.name.endswith(".gz") else self.name

    @property
    def algorithm(self) -> str:
        return self.checksum.split(":", 1)[0]

    @property
    def digest(self) -> str:
        return self.checksum.split(":", 1)[1]


@dataclass(frozen=True)
class DataSet:
    name: str
    help: str                          # one line: what it is
    loader: str                        # one of LOADERS
    normalisation: str                 # one of NORMALISATIONS: how predict prepares a raw image
    train_size: int                    # training digits loaded (the whole split)
    test_size: int                     # test digits loaded
    subset: str                        # --train-size N: "seeded" (load_dataset draws N with a seed) | "first" (the first N)
    credit: str                        # who made the data, and its licence
    files: tuple[DataFile, ...] = ()   # idx: train images, train labels, test images, test labels; usps: train, test
    mirrors: tuple[str, ...] = ()      # base URLs, tried in turn
    test_first: bool = False           # embedded: the anchor's test permutation drawn first
    test_pick: str = "all"             # idx: "all" the test images, or "mnist1989": the 2007 that mnist1989 selects

    def __post_init__(self) -> None:
        for field, value, allowed in (("loader", self.loader, LOADERS), ("normalisation", self.normalisation,
                                      NORMALISATIONS), ("subset", self.subset, SUBSETS)):
            if value not in allowed:
                raise ValueError(f"data set {self.name}: {field} must be one of {', '.join(allowed)}")
        if bool(self.files) == (self.loader == "embedded") or bool(self.files) != bool(self.mirrors):
            raise ValueError(f"data set {self.name}: downloaded sets have files and mirrors, embedded ones neither")

    @property
    def folder(self) -> str:
        """The folder under the data root that holds the files."""
        return self.name

    @property
    def downloaded(self) -> bool:
        """Whether it needs files from a data folder (else it ships inside the package)."""
        return bool(self.files)

    def urls(self, f: DataFile) -> list[str]:
        return [(m if m.endswith("/") else m + "/") + f.name for m in self.mirrors]

    def loaded_train_size(self, train_size: int) -> int:
        """The `train_size` to load the set with: a seeded subset is drawn when loading, the
        first N are taken by the trainer (train.training_split) from the whole split."""
        return train_size if self.subset == "seeded" else 0

    def fits(self, train_size: int) -> bool:
        return 0 <= train_size <= self.train_size


_ANCHOR_SIM = ("the anchor reproduction's simulated 1989 set: 7291 + 2007 MNIST digits drawn with "
               "legacy numpy seed 1337")
_MNIST_CREDIT = "MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0)"

_ENTRIES = (
    DataSet("mnist1989", _ANCHOR_SIM + ", train permutation first (embedded)", "embedded", "mnist",
            PAPER_TRAIN, PAPER_TEST, "first", _MNIST_CREDIT),
    DataSet("mnist1989-test-first", _ANCHOR_SIM + ", test permutation first (embedded)", "embedded",
            "mnist", PAPER_TRAIN, PAPER_TEST, "first", _MNIST_CREDIT, test_first=True),
    DataSet("usps", "the USPS zip-code digits of The Elements of Statistical Learning, the closest public "
            "copy of the paper's own data", "usps", "usps", PAPER_TRAIN, PAPER_TEST, "first",
            "USPS zip codes from The Elements of Statistical Learning (Hastie, Tibshirani, Friedman)",
            files=(DataFile("zip.train.gz", "sha256:66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16"),
                   DataFile("zip.test.gz", "sha256:8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f")),
            mirrors=("https://hastie.su.domains/ElemStatLearn/datasets/",)),
    # MD5 of the official .gz files as the mirrors serve them, and of their decompressed content
    DataSet("mnist", "full MNIST (60,000 training digits, or a seeded subset), tested on the 2007 "
            "mnist1989 test digits", "idx", "mnist", IDX_TRAIN, PAPER_TEST, "seeded", _MNIST_CREDIT,
            files=(DataFile("train-images-idx3-ubyte.gz", "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
                            "6bbc9ace898e44ae57da46a324031adb"),
                   DataFile("train-labels-idx1-ubyte.gz", "md5:d53e105ee54ea40749a09fcbcd1e9432",
                            "a25bea736e30d166cdddb491f175f624"),
                   DataFile("t10k-images-idx3-ubyte.gz", "md5:9fb629c4189551a2d022fa330f9573f3",
                            "2646ac647ad5339dbf082846283269ea"),
                   DataFile("t10k-labels-idx1-ubyte.gz", "md5:ec29112dd5afa0611ce80d1b7f02629c",
                            "27ae3e4e09519cfbb04c329615203637")),
            mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
            test_pick="mnist1989"),
    # Fashion-MNIST: Zalando's article images in MNIST's IDX layout, through the same 1989
    # conversion (28x28 -> 16x16 bilinear). MD5 of the .gz files as published (torchvision's
    # FashionMNIST resources and the data set's own repository).
    DataSet("fashion-mnist", "Fashion-MNIST (10 kinds of clothing, 60,000 training images, or a seeded subset), "
            "tested on all 10,000 test images", "idx", "mnist", IDX_TRAIN, IDX_TEST, "seeded",
            "Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, arXiv:1708.07747; MIT licence, Zalando Research)",
            files=(DataFile("train-images-idx3-ubyte.gz", "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                   DataFile("train-labels-idx1-ubyte.gz", "md5:25c81989df183df01b3e8a0aad5dffbe"),
                   DataFile("t10k-images-idx3-ubyte.gz", "md5:bef4ecab320f06d8554ea6380940ec79"),
                   DataFile("t10k-labels-idx1-ubyte.gz", "md5:bb300cfdad3c16e7a12a480ee83cd310")),
            mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                     "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")),
)

# The registry, by name (tests replace an entry's mirrors with local folders).
REGISTRY: dict[str, DataSet] = {d.name: d for d in _ENTRIES}
NAMES: tuple[str, ...] = tuple(REGISTRY)


def get(name: str) -> DataSet:
    """The entry of data set `name`; UnknownDataSet (naming the known sets) for any other name."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownDataSet(f"unknown data set {name!r}; choose one of {', '.join(REGISTRY)}") from None
