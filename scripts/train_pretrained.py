"""Retrain the pretrained nets shipped in src/lecun1989/_pretrained/ and rewrite their files.

    python scripts/train_pretrained.py                 # both nets, fast engine
    python scripts/train_pretrained.py --only 1989     # one of them
    python scripts/train_pretrained.py --engine torch  # the reference engine (much slower)

Each net is trained from its preset and seed (`pretrained.PRETRAINED`: "1989" = a0, "modern" =
a4, seed 1337) on the embedded mnist1989 set, so the data needs no download. Written per net:
<name>.pt, the checkpoint (state_dict + config, the package's one weight format), and <name>.json,
how it was made and the train and test figures of the shipped weights, evaluated by model.Net1989
(the same evaluation tests/test_pretrained.py repeats). The figures of the training run's own
engine are kept too ("engine_final"): the fast engine's float rounding differs from torch's, so a
digit near a tie could in principle flip; the stored "test" figure is the one a user reproduces.

The runs are deterministic for a given engine, seed and machine type; the weights can differ
across CPUs and library versions in the last bits (the provenance in the .json says which made them).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tempfile
import time
from pathlib import Path

import torch

from lecun1989 import metrics, pretrained, store, train
from lecun1989.config import preset


def evaluate(net, data, head: str) -> dict:
    out = {}
    for split in ("train", "test"):
        s = getattr(data, split)
        x = torch.as_tensor(s.x, dtype=torch.float32)
        y = torch.as_tensor(s.y, dtype=torch.int64)
        with torch.no_grad():
            outputs = net(x)
        out[split] = metrics.summarize(outputs, y, head)
    return out


def make(name: str, engine: str, dest: Path) -> dict:
    spec = pretrained.PRETRAINED[name]
    p = preset(spec["preset"])
    cfg = p.config.with_overrides(seed=spec["seed"])
    data = train.load_data(cfg)
    print(f"{name}: preset {p.name} ({p.change}), seed {cfg.seed}, {cfg.passes} passes, engine {engine}",
          flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = train.run(cfg, engine=engine, data=data, out=tmp,
                           on_pass=lambda k, tr, te: print(f"  pass {k:3d}: train {100 * tr['error']:5.2f}% "
                                                           f"test {100 * te['error']:5.2f}% ({te['misses']})",
                                                           flush=True))
    wall = time.perf_counter() - t0
    if result.diverged_at is not None:
        raise SystemExit(f"{name}: diverged at pass {result.diverged_at}")
    buf = io.BytesIO()
    torch.save({"state_dict": {k: v.detach().cpu().contiguous() for k, v in result.state.items()},
                "config": cfg.to_dict()}, buf)
    blob = buf.getvalue()
    dest.mkdir(parents=True, exist_ok=True)
    store.write_bytes(dest / f"{name}.pt", blob)
    net, _ = store.load_checkpoint(dest / f"{name}.pt")
    figures = evaluate(net, data, cfg.head)
    record = {
        "name": name,
        "what": spec["what"],
        "preset": p.name,
        "change": p.change,
        "seed": cfg.seed,
        "engine": engine,
        "passes": cfg.passes,
        "data": cfg.data,
        "data_description": data.description,
        "normalisation": data.normalisation,
        "config": cfg.to_dict(),
        "config_hash": cfg.hash(),
        "train": figures["train"],
        "test": figures["test"],
        "engine_final": {"train": result.final("train"), "test": result.final("test")},
        "published": p.published,
        "checkpoint_sha256": hashlib.sha256(blob).hexdigest(),
        "weights_sha256": pretrained.weights_sha256(result.state),
        "wall_s": round(wall, 1),
        "provenance": store.provenance(),
        "made_by": "scripts/train_pretrained.py",
    }
    store.write_json(dest / f"{name}.json", record)
    te = figures["test"]
    print(f"{name}: test {100 * te['error']:.2f}% ({te['misses']}/{te['n']}), wall {wall:.0f} s -> "
          f"{dest / (name + '.pt')}", flush=True)
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=tuple(pretrained.PRETRAINED), help="retrain one net only")
    ap.add_argument("--engine", choices=("fast", "torch"), default="fast")
    ap.add_argument("--dest", type=Path, default=pretrained.folder(),
                    help="output folder (default: the package's _pretrained/)")
    args = ap.parse_args(argv)
    for name in ([args.only] if args.only else list(pretrained.PRETRAINED)):
        make(name, args.engine, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
