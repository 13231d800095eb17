"""lecun1989 demo: one self-contained HTML page where you draw a digit and watch nets think.

    lecun1989 demo [--model 1989|modern|PATH ...] [--out demo.html] [--open]

The page shows, for each net side by side (by default the shipped 1989 and modern nets), the
16x16 input it sees, its 12 H1 and 12 H2 feature maps as heat maps, its 30 H3 units and 10
outputs as bars, and its answer with the top three scores and their margins, all recomputed as
you draw; a strip of test digits to click on, with a button per net that steps through the ones
it gets wrong; and each net's counts and provenance. docs/demo.md describes the page.

The file needs nothing else: the weights (float32, base64), the test digits, the architecture's
numbers (geometry.py) and the input steps' constants (predict.py) are in a JSON block; the code
is `_demo/demo.js` (the forward pass, one function per layer of model.py, and predict.py's steps,
one function per function) with `_demo/demo.css`, inlined into `_demo/demo.html`. Nothing is
fetched: no scripts, fonts or images from anywhere.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import json
import os
import pickle
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from . import __version__, geometry, predict
from .model import PARAM_SHAPES, Net1989, counts

DEFAULT_MODELS = ("1989", "modern")
DEFAULT_OUT = "demo.html"
MAX_MODELS = 4                  # side by side; more would not fit a screen
STRIP_DIGITS = 400              # the first 400 of the embedded set's 2007 test digits
STRIP_DATA = "mnist1989"
ASSETS = "_demo"


class DemoError(Exception):
    """Bad input for the demo (a model that cannot be loaded, an --out that cannot be written);
    the message is one line for the user."""


# -- the nets ----------------------------------------------------------------------------------
@dataclass
class DemoNet:
    spec: str                   # what the user gave: "1989", "modern" or a path
    net: Net1989
    cfg: object                 # the Config it was trained with
    label: str                  # the card's title
    short: str                  # a few words for the strip's tooltips
    what: str                   # one line under the title
    provenance: list[tuple[str, str]]


def _pct(error: float | None, misses=None, n=None) -> str:
    if error is None:
        return "not recorded"
    return f"{100 * error:.2f}%" + (f" ({misses} of {n})" if misses is not None and n else "")


def _config_line(cfg: dict) -> str:
    keys = ("activation", "head", "optimizer", "lr", "schedule", "passes", "dropout", "shift", "data", "train_size")
    return ", ".join(f"{k} {cfg[k]}" for k in keys if k in cfg)


def _pretrained_rows(name: str) -> tuple[str, list[tuple[str, str]]]:
    from .pretrained import PRETRAINED, info
    meta = info(name)
    tr, te, pub, prov = meta.get("train", {}), meta.get("test", {}), meta.get("published", {}), meta.get("provenance", {})
    rows = [
        ("shipped as", f"lecun1989 pretrained net {name!r} ({PRETRAINED[name]['what']})"),
        ("preset", f"{meta.get('preset')}: {meta.get('change', '')}"),
        ("config", _config_line(meta.get("config", {}))),
        ("config hash", str(meta.get("config_hash"))),
        ("seed", str(meta.get("seed"))),
        ("trained by", f"{meta.get('made_by')}, engine {meta.get('engine')}, {meta.get('wall_s')} s"),
        ("train error", _pct(tr.get("error"), tr.get("misses"), tr.get("n"))),
        ("test error", _pct(te.get("error"), te.get("misses"), te.get("n"))),
        ("rejected for 1% error", _pct(te.get("reject_1pct"))),
        ("published (" + str(pub.get("source", "")) + ")", f"test {pub.get('test')}, train {pub.get('train')}" if pub else "none"),
        ("data", str(meta.get("data_description", meta.get("data")))),
        ("machine and versions", ", ".join(f"{k} {v}" for k, v in prov.items())),
        ("checkpoint sha256", str(meta.get("checkpoint_sha256"))),
        ("weights sha256", str(meta.get("weights_sha256"))),
    ]
    return PRETRAINED[name]["what"], rows


def _checkpoint_rows(spec: str, cfg) -> tuple[str, list[tuple[str, str]]]:
    """What a checkpoint carries: its config, and the figures of its run folder if it has one."""
    path = Path(spec)
    pt = path / "checkpoint.pt" if path.is_dir() else path
    final = None
    metrics = pt.parent / "metrics.jsonl"
    if metrics.is_file():
        try:
            lines = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
            tests = [r for r in lines if r.get("split") == "test"]
            final = tests[-1] if tests else None
        except (OSError, ValueError):
            final = None
    d = cfg.to_dict()
    rows = [
        ("checkpoint", str(pt)),
        ("config", _config_line(d)),
        ("config hash", cfg.hash()),
        ("seed", str(d.get("seed"))),
        ("test error", _pct(final.get("error"), final.get("misses"), final.get("n")) + f" after pass {final.get('pass')}"
         if final else "not recorded (no metrics.jsonl beside the checkpoint)"),
        ("checkpoint sha256", hashlib.sha256(pt.read_bytes()).hexdigest()),
    ]
    return f"a checkpoint: {d.get('activation')} units, {d.get('head')} head, {d.get('optimizer')}", rows


def load_nets(specs: list[str]) -> list[DemoNet]:
    from .pretrained import PRETRAINED
    out = []
    for spec in specs:
        try:
            net, cfg = predict.load_model(spec)
            what, rows = _pretrained_rows(spec) if spec in PRETRAINED else _checkpoint_rows(spec, cfg)
        except (FileNotFoundError, ValueError, RuntimeError, KeyError, OSError, EOFError, pickle.UnpicklingError) as e:
            # a missing file, a corrupt or foreign checkpoint (torch raises RuntimeError or
            # UnpicklingError), shipped files that do not match their record (PretrainedError)
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise DemoError(f"cannot load model {spec!r}: {msg}") from None
        if spec in PRETRAINED:
            label, short = f"the {spec} net", f"the {spec} net"
        else:
            p = Path(spec)
            label = short = (p.name if p.is_dir() or p.name != "checkpoint.pt" else p.parent.name) or spec
        out.append(DemoNet(spec, net, cfg, label, short, what, rows))
    seen: dict[str, int] = {}
    for d in out:                    # the same name twice: number them
        seen[d.label] = seen.get(d.label, 0) + 1
        if seen[d.label] > 1:
            d.label = d.short = f"{d.label} ({seen[d.label]})"
    return out


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def net_payload(d: DemoNet, strip_misses: int) -> dict:
    if d.net.h2_blocks != geometry.H2_BLOCKS:
        # the page's JavaScript forward wires H2 by the one table geometry.H2_BLOCKS
        raise ValueError(f"{d.spec}: the demo draws nets with the anchor's H2 table only "
                         f"(this net was trained with h2_scheme={d.cfg.h2_scheme})")
    state = d.net.state_dict()
    return {
        "label": d.label, "short": d.short, "what": d.what, "spec": d.spec,
        "cfg": {"activation": d.cfg.activation, "head": d.cfg.head, "data": d.cfg.data},
        "normalisation": predict.normalisation_of(d.cfg.data),
        "weights": {name: {"shape": list(PARAM_SHAPES[name]), "data": _b64(state[name].detach().numpy())}
                    for name in PARAM_SHAPES},
        "provenance": [list(r) for r in d.provenance] + [
            ("counts", _counts_line()), ("wrong on the strip", f"{strip_misses} of {STRIP_DIGITS} (computed by Python)")],
        "strip_misses": strip_misses,
    }


def _counts_line() -> str:
    c = counts()
    return (f"{c['parameters']:,} parameters, {c['units']:,} units, {c['connections']:,} connections, "
            f"{c['macs']:,} multiply-accumulates per digit")


# -- the page ----------------------------------------------------------------------------------
def strip_digits(n: int = STRIP_DIGITS, data_root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n test digits of the embedded 1989 set: (n, 1, 16, 16) inputs and labels."""
    from .data import load_dataset
    test = load_dataset(STRIP_DATA, root=data_root).test
    return test.x[:n].contiguous(), test.y[:n].contiguous()


def predictions(net: Net1989, x: torch.Tensor) -> torch.Tensor:
    was = net.training
    net.eval()
    try:
        with torch.no_grad():
            return net(x).argmax(dim=1)
    finally:
        net.train(was)


def _asset(name: str) -> str:
    return (resources.files("lecun1989") / ASSETS / name).read_text(encoding="utf-8")


def _geometry() -> dict:
    names = ("IMAGE", "PAD", "BACKGROUND", "KERNEL", "STRIDE", "H1_MAPS", "H1_SIDE", "H2_MAPS", "H2_SIDE",
             "H2_FAN_MAPS", "H2_BLOCKS", "H3_UNITS", "OUTPUTS", "SCALED_TANH_A", "SCALED_TANH_S")
    return {n: getattr(geometry, n) for n in names}


def _prepare_constants() -> dict:
    names = ("MNIST_SIDE", "MNIST_BOX", "INK_THRESHOLD", "NOISE_FLOOR", "FRAME_DIVISOR", "TOP_PERCENTILE",
             "PERCENTILE_MIN_PIXELS", "MIN_CONTRAST")
    return {n: getattr(predict, n) for n in names}


def build_page(nets: list[DemoNet], x: torch.Tensor, y: torch.Tensor) -> str:
    """The HTML text of the page for these nets and strip digits."""
    payload_nets = [net_payload(d, int((predictions(d.net, x) != y).sum())) for d in nets]
    data = {
        "geometry": _geometry(),
        "prepare": _prepare_constants(),
        "nets": payload_nets,
        "strip": {"n": int(x.shape[0]), "labels": "".join(str(int(v)) for v in y), "x": _b64(x.numpy())},
        "made": {"by": f"lecun1989 {__version__}", "models": [d.spec for d in nets]},
    }
    # JSON inside <script>: "<" escaped so that no string can close the element
    blob = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    names = " and ".join(d.label for d in nets)
    compare = (f" Side by side: {names}, the same {counts()['parameters']:,} weights trained "
               "two ways." if len(nets) == 2 else f" The nets: {names}." if len(nets) > 2 else "")
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    fields = {
        "GENERATOR": f"lecun1989 {__version__} demo",
        "COMPARE": compare,
        "STRIP_TITLE": f"{int(x.shape[0])} test digits",
        "STRIP_NOTE": (f"The first {int(x.shape[0])} of the {STRIP_DATA} set's test digits (MNIST, LeCun, Cortes, "
                       "Burges; CC BY-SA 3.0), true label under each; a coloured mark under a digit a net gets "
                       "wrong, in that net's colour. Click one to see it go through the nets; the strip "
                       "scrolls sideways."),
        "COUNTS": f"Every net here: {_counts_line()} (the paper's counts, checked in model.py).",
        "FOOTER": f"Made by lecun1989 {__version__} (lecun1989 demo --model {' '.join(d.spec for d in nets)}) "
                  f"on {stamp}. Y. LeCun et al., \"Backpropagation Applied to Handwritten Zip Code "
                  "Recognition\", Neural Computation 1(4):541-551, 1989.",
    }
    page = _asset("demo.html")
    for key, value in fields.items():
        page = page.replace("{{" + key + "}}", html.escape(value, quote=True))
    # the code last, so that nothing in it is taken for a placeholder
    page = page.replace("{{STYLE}}", _asset("demo.css")).replace("{{DATA}}", blob)
    return page.replace("{{SCRIPT}}", _asset("demo.js").replace("</script", "<\\/script"))


def check_out(out: str | os.PathLike) -> Path:
    """The --out path, refused before any work if it cannot be a file we write."""
    path = Path(out)
    if path.is_dir():
        raise DemoError(f"--out {str(path)!r} is a folder; give a file name such as {str(path / DEFAULT_OUT)!r}")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise DemoError(f"cannot write {str(path)!r}: the folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise DemoError(f"cannot write {str(path)!r}: the folder {str(parent)!r} is not writable")
    return path


def write_page(path: Path, text: str) -> None:
    """Written to a temporary file beside `path`, then renamed: no half-written page."""
    from .store import write_text
    try:
        write_text(path, text)
    except OSError as e:
        raise DemoError(f"cannot write {str(path)!r}: {e.strerror or type(e).__name__}") from None


def demo_command(models: list[str] | None = None, out: str = DEFAULT_OUT, open_browser: bool = False,
                 data_root=None) -> int:
    """`lecun1989 demo`: write the page; 0, or 1 with a one-line error (2 for too many models)."""
    models = list(models or DEFAULT_MODELS)
    if len(models) > MAX_MODELS:
        print(f"lecun1989: error: at most {MAX_MODELS} models side by side, got {len(models)}", file=sys.stderr)
        return 2
    try:
        path = check_out(out)
        nets = load_nets(models)
        x, y = strip_digits(data_root=data_root)
        page = build_page(nets, x, y)
        write_page(path, page)
    except DemoError as e:
        print(f"lecun1989: error: {e}", file=sys.stderr)
        return 1
    size = len(page.encode("utf-8"))
    print(f"wrote {path} ({size / 1e6:.2f} MB: {', '.join(d.label for d in nets)}, {int(x.shape[0])} test digits)")
    if open_browser:
        import webbrowser
        if not webbrowser.open(path.resolve().as_uri()):
            print(f"lecun1989: no browser found to open {path}; open it by hand", file=sys.stderr)
    return 0
