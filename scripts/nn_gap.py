"""How much harder is zip.test than the training digits, for a method with no unknowns?

1-nearest-neighbour (Euclidean) error of the hunt's validation split (the last 1000 of zip.train,
neighbours among the first 6291) - zip.test is not read. ESL (table 13.1) reports 5.5% for 1-NN
on zip.test with all 7291 training digits as neighbours (docs/reference.md).

    PYTHONPATH=src python scripts/nn_gap.py --data-root /work/shared/data
"""

from __future__ import annotations

import argparse
import json

import torch

from lecun1989.hunt import validation_data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args()
    d = validation_data(args.data_root)
    a = d.train.x.reshape(len(d.train), -1).double()
    b = d.test.x.reshape(len(d.test), -1).double()
    dist = torch.cdist(b, a)
    pred = d.train.y[dist.argmin(dim=1)]
    misses = int((pred != d.test.y).sum())
    print(json.dumps({"what": "1-NN Euclidean, validation = last 1000 of zip.train, neighbours = first 6291",
                      "misses": misses, "n": len(d.test), "error": misses / len(d.test)}))


if __name__ == "__main__":
    main()
