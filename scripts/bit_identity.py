"""md5 of the weights (and per-pass records) of a few short runs on both engines.

Run before and after a change that must keep training bit for bit the same at the defaults
(e.g. new Config fields): the printed lines must be identical.

    PYTHONPATH=src python scripts/bit_identity.py --data-root /work/shared/data
"""

from __future__ import annotations

import argparse
import hashlib

from lecun1989 import train
from lecun1989.config import Config
from lecun1989.data import load_dataset

SDLM = dict(data="usps", activation="scaled-tanh", optimizer="sdlm", lr=3e-4)
RUNS = {
    "fast sgd 1 pass (Config(passes=1))": ("fast", Config(passes=1)),
    "fast sdlm usps 2 passes (p2's config)": ("fast", Config(passes=2, **SDLM)),
    "fast sdlm running usps 1000 digits": ("fast", Config(passes=1, train_size=1000, sdlm_running=0.01, **SDLM)),
    "fast relu linear adamw dropout shift": ("fast", Config(passes=1, activation="relu", head="linear",
                                                            optimizer="adamw", lr=3e-4, dropout=0.25, shift=True)),
    "torch sgd 300 digits": ("torch", Config(passes=1, train_size=300)),
    "torch sdlm usps 200 digits": ("torch", Config(passes=1, train_size=200, sdlm_sample=100, **SDLM)),
}


def digest(result) -> str:
    blob = b"".join(result.state[k].numpy().tobytes() for k in sorted(result.state))
    return hashlib.md5(blob).hexdigest() + " " + hashlib.md5(repr(result.records).encode()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args()
    cache = {}
    for name, (engine, cfg) in RUNS.items():
        if cfg.data not in cache:
            cache[cfg.data] = load_dataset(cfg.data, args.data_root)
        r = train.run(cfg, engine=engine, data=cache[cfg.data], progress=False)
        print(f"{name:45s} weights {digest(r)}", flush=True)


if __name__ == "__main__":
    main()
