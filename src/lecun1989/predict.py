"""An image file -> a 16x16 digit -> a prediction.

A photo or a drawing of one digit, any size, colour or grey, dark ink on light paper or the
reverse, is turned into the input a net was trained on, the way its training digits were made:

- MNIST-trained nets (mnist1989, mnist1989-test-first, mnist): the MNIST way (Y. LeCun,
  C. Cortes, C. J. C. Burges, the MNIST page): the ink is fitted into a 20x20 box keeping its
  aspect ratio, then placed in a 28x28 field so that its centre of mass is at the centre; the
  28x28 uint8 image then goes through the package's own 16x16 conversion (`data.to16`), the one
  every training digit went through.
- USPS-trained nets: the ink box is scaled to fill the 16x16 field (the USPS digits are "size
  normalized" to fill it), grey values in [-1, 1] with background -1.

The checkpoint's config names its data set, which names the normalisation (`normalisation_of`).

Steps common to both: read (refusing empty, truncated, non-image and enormous files), composite
any transparency onto white, convert to grey, decide the polarity from the border (the paper
around a digit is the majority of the frame), stretch so the paper is 0 and the ink 1, crop to
the ink.

These steps are written twice: here, and in the JavaScript of `lecun1989 demo`
(`_demo/demo.js`, one function per function of this module, under the same name), which turns a
drawing into the net's input. This module is the definition; the demo receives every constant
below from it, and tests/test_demo.py holds the two to the same 16x16 input in a real browser.
So that both can give the same bits, each step is plain arithmetic in a stated precision:
float32 where numpy computes in float32 (grey levels, ink, the 28x28 field), float64 in a fixed
order for the resizing and the centre of mass (`_resize`, `mnist_field`), and the 28x28 -> 16x16
step is `data.to16`, as for every training digit (the JS matches torch's bilinear to ~1e-7).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .model import IMAGE, Net1989

# The largest image accepted, in pixels (width x height), checked from the header before any
# decoding: 40 megapixels is a large phone photo; beyond that a "digit" is more likely a
# decompression bomb than a photo.
MAX_PIXELS = 40_000_000
MAX_BYTES = 100 * 1024 * 1024      # and the largest file read, in bytes

MNIST_SIDE = 28                    # the MNIST field
MNIST_BOX = 20                     # the box the ink is fitted into, inside the field
INK_THRESHOLD = 0.2                # an ink pixel: at least 20% of the way from paper to ink
NOISE_FLOOR = 0.1                  # below this (after stretching) a pixel is paper
FRAME_DIVISOR = 20                 # the border frame that tells the paper: 1/20 of the shorter side
TOP_PERCENTILE = 99.5              # the strongest ink, robust to a few specks ...
PERCENTILE_MIN_PIXELS = 200        # ... in images larger than this; smaller ones take the maximum
MIN_CONTRAST = 0.1                 # less contrast than this anywhere: no digit


class ImageError(ValueError):
    """A file that cannot be read as a digit; the message is one line for the user."""


def normalisation_of(data_name: str) -> str:
    """'usps' or 'mnist': how a raw image is prepared for a net trained on `data_name` (its
    entry in datasets.py says)."""
    from .datasets import get
    return get(data_name).normalisation


# -- reading -----------------------------------------------------------------------------------
def read_grey(path: str | os.PathLike) -> np.ndarray:
    """A file -> (H, W) float32 grey levels in [0, 1] (0 black, 1 white).

    Raises ImageError for a missing, empty, enormous, truncated or non-image file."""
    from PIL import Image, ImageFile, UnidentifiedImageError

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ImageError(f"cannot read ({e.strerror or type(e).__name__})") from None
    if path.is_dir():
        raise ImageError("is a folder, not an image")
    if size == 0:
        raise ImageError("empty file")
    if size > MAX_BYTES:
        raise ImageError(f"file too large ({size:,} bytes; the limit is {MAX_BYTES:,})")
    ImageFile.LOAD_TRUNCATED_IMAGES = False     # a truncated file is an error, not a grey band
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"image too large ({w}x{h} = {w * h:,} pixels; the limit is {MAX_PIXELS:,})")
            if w == 0 or h == 0:
                raise ImageError(f"image has no pixels ({w}x{h})")
            im.load()
            im = _flatten(im)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not an image PIL can read (PNG or JPEG expected)") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"image too large ({e})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # PIL reports truncated or corrupt data as OSError ("image file is truncated", "broken
        # data stream"), some plugins as SyntaxError or ValueError.
        raise ImageError(f"corrupt or truncated image ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return np.asarray(im, dtype=np.float32) / 255.0


def _flatten(im):
    """Any PIL mode -> 8-bit grey 'L'; transparent parts are composited onto white paper."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
        return Image.fromarray(a.astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("LA", "RGBA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
        paper = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(paper, im)
    return im.convert("L")


# -- normalising -------------------------------------------------------------------------------
def ink_of(grey: np.ndarray) -> np.ndarray:
    """Grey levels -> ink in [0, 1] (0 paper, 1 full ink), whichever way round the image is.

    The polarity comes from the border: the median of the outer frame is the paper. The image is
    then stretched so that the paper is 0 and the strongest ink (its 99th percentile, robust to a
    few specks) is 1."""
    g = np.asarray(grey, dtype=np.float32)
    h, w = g.shape
    k = max(1, min(h, w) // FRAME_DIVISOR)     # frame width: 5% of the shorter side, at least 1 px
    frame = np.concatenate([g[:k].ravel(), g[-k:].ravel(), g[:, :k].ravel(), g[:, -k:].ravel()])
    paper = float(np.median(frame))
    ink = (paper - g) if paper >= 0.5 else (g - paper)     # dark-on-light or light-on-dark
    ink = np.clip(ink, 0.0, None)
    top = float(np.percentile(ink, TOP_PERCENTILE)) if ink.size > PERCENTILE_MIN_PIXELS else float(ink.max())
    top = max(top, float(ink.max()) * 0.5)
    if top < MIN_CONTRAST:
        raise ImageError("no ink found (the image is blank or has almost no contrast)")
    ink = np.clip(ink / top, 0.0, 1.0)
    ink[ink < NOISE_FLOOR] = 0.0
    return ink


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    mask = ink >= INK_THRESHOLD
    if not mask.any():
        raise ImageError("no ink found")
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _axis_weights(n_in: int, n_out: int) -> list[tuple[int, list[float]]]:
    """For each output pixel of one axis: (first input pixel, normalised weights), float64.

    The triangle filter of an antialiased bilinear resize (PIL's, and torch's `antialias=True`):
    output pixel i is centred at scale * (i + 0.5) in input pixels, scale = n_in / n_out; its
    filter is a triangle of half-width max(scale, 1), so when shrinking every input pixel
    contributes and when growing it is plain bilinear interpolation."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    rows = []
    for i in range(n_out):
        centre = scale * (i + 0.5)
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), n_in)
        w = [max(0.0, 1.0 - abs((j - centre + 0.5) / support)) for j in range(lo, hi)]
        total = 0.0
        for v in w:                     # summed in order, as the demo's JS sums them
            total += v
        rows.append((lo, [v / total for v in w]))
    return rows


def _resize_rows(a: np.ndarray, n_out: int) -> np.ndarray:
    """Resize the last axis of a float64 (H, W) array to n_out; each output is summed tap by tap
    in order (a plain loop, not a matrix product, whose summation order is the BLAS's)."""
    rows = _axis_weights(a.shape[1], n_out)
    taps = max(len(w) for _, w in rows)
    first = np.array([lo for lo, _ in rows])
    weights = np.zeros((n_out, taps))
    for i, (_, w) in enumerate(rows):
        weights[i, :len(w)] = w
    out = np.zeros((a.shape[0], n_out))
    for j in range(taps):              # a tap beyond an output's filter has weight 0: adds +0
        out += a[:, np.minimum(first + j, a.shape[1] - 1)] * weights[:, j]
    return out


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area-faithful resize of a float image to (h, w): the triangle filter of `_axis_weights`
    along the width, then along the height, in float64; the result clipped to [0, 1], float32.

    Written out rather than calling torch's antialiased interpolate, whose float32 sums are
    ordered by the compiler (and which gives every row the first row's value when the output is
    one pixel wide, torch 2.13 on CPU); this version's arithmetic is fixed, so the demo's JS
    gets the same bits."""
    a = np.asarray(a, dtype=np.float64)
    out = _resize_rows(_resize_rows(a, w).T, h).T
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def mnist_field(box: np.ndarray) -> np.ndarray:
    """A cropped ink box -> the 28x28 uint8 MNIST field: the ink fitted into 20x20 keeping the
    aspect ratio, placed with its centre of mass at the field's centre."""
    h, w = box.shape
    scale = MNIST_BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = _resize(box, nh, nw)
    field = np.zeros((MNIST_SIDE, MNIST_SIDE), dtype=np.float32)
    # The centre of mass, summed pixel by pixel in row order in float64 (cumsum adds in order;
    # .sum() would add pairwise): the same sums as the demo's JS, so the same rounding below.
    flat = small.astype(np.float64).ravel()
    ys, xs = np.divmod(np.arange(flat.size), nw)
    total = float(np.cumsum(flat)[-1])
    cy = float(np.cumsum(ys * flat)[-1]) / total if total > 0 else (nh - 1) / 2
    cx = float(np.cumsum(xs * flat)[-1]) / total if total > 0 else (nw - 1) / 2
    centre = (MNIST_SIDE - 1) / 2
    # top-left corner that puts the centre of mass at the centre, kept inside the field
    top = int(np.clip(round(centre - cy), 0, MNIST_SIDE - nh))
    left = int(np.clip(round(centre - cx), 0, MNIST_SIDE - nw))
    field[top:top + nh, left:left + nw] = small
    return np.round(field * 255.0).astype(np.uint8)


def to_input(ink_box: np.ndarray, normalisation: str) -> torch.Tensor:
    """A cropped ink box (values in [0, 1]) -> the (1, 1, 16, 16) float32 input in [-1, 1]."""
    if normalisation == "mnist":
        from .data import to16
        return to16(mnist_field(ink_box)[None])
    if normalisation == "usps":
        filled = _resize(ink_box, IMAGE, IMAGE)
        return torch.from_numpy(filled * 2.0 - 1.0)[None, None].float()
    raise ValueError(f"unknown normalisation {normalisation!r}")


def prepare(path: str | os.PathLike, normalisation: str = "mnist") -> torch.Tensor:
    """An image file -> the (1, 1, 16, 16) input a net trained with `normalisation` expects."""
    return to_input(crop_to_ink(ink_of(read_grey(path))), normalisation)


# -- models ------------------------------------------------------------------------------------
def load_model(spec: str) -> tuple[Net1989, "object"]:
    """'1989' | 'modern' | a checkpoint path | a run folder holding checkpoint.pt -> (net, Config)."""
    from .pretrained import PRETRAINED, load_pretrained_with_config
    from .store import load_checkpoint

    if spec in PRETRAINED:
        return load_pretrained_with_config(spec)
    path = Path(spec)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no model {spec!r}: give 1989, modern, a checkpoint.pt or a run folder")
    return load_checkpoint(path)        # CheckpointError (one line) for anything else than a checkpoint


def scores(net: Net1989, x: torch.Tensor, head: str) -> torch.Tensor:
    """(N, 10) scores: softmax probabilities for a linear head, the tanh outputs (in [-1, 1])
    for a tanh head."""
    was = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(x)
    finally:
        net.train(was)
    return torch.softmax(out, dim=1) if head == "linear" else out


@dataclass
class Prediction:
    file: str
    digit: int | None = None
    top3: list[tuple[int, float]] | None = None
    error: str | None = None
    image: torch.Tensor | None = None       # the (1, 1, 16, 16) input the net saw

    def as_json(self) -> dict:
        if self.error is not None:
            return {"file": self.file, "error": self.error}
        return {"file": self.file, "digit": self.digit, "top3": [[d, s] for d, s in self.top3]}

    def as_text(self) -> str:
        if self.error is not None:
            return f"{self.file}: error: {self.error}"
        top = ", ".join(f"{d} {s:.3f}" for d, s in self.top3)
        return f"{self.file}: {self.digit}  (top 3: {top})"


def predict_files(files: list[str], net: Net1989, cfg) -> list[Prediction]:
    """One Prediction per file, in order; a bad file gets an error and the others go on."""
    norm = normalisation_of(cfg.data)
    out: list[Prediction] = []
    for f in files:
        try:
            x = prepare(f, norm)
        except ImageError as e:
            out.append(Prediction(file=str(f), error=str(e)))
            continue
        s = scores(net, x, cfg.head)[0]
        order = torch.argsort(s, descending=True)[:3].tolist()
        out.append(Prediction(file=str(f), digit=int(order[0]),
                              top3=[(int(d), round(float(s[d]), 4)) for d in order], image=x))
    return out


def save_input(x: torch.Tensor, path: Path) -> None:
    """Write the 16x16 input as an 8-bit grey PNG: -1 (background) black, +1 (ink) white."""
    from PIL import Image
    import io
    from .store import write_bytes

    a = ((x.reshape(IMAGE, IMAGE).numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a, "L").save(buf, format="PNG")
    write_bytes(path, buf.getvalue())


def _show_names(preds: list[Prediction]) -> list[str]:
    """Output names for --show: the file's stem, made unique with its position when needed."""
    stems = [Path(p.file).stem for p in preds]
    return [f"{s}.16x16.png" if stems.count(s) == 1 else f"{i:03d}-{s}.16x16.png"
            for i, s in enumerate(stems)]


def predict_command(files: list[str], model: str = "modern", as_json: bool = False,
                    show_dir: str | None = None) -> int:
    """`lecun1989 predict`: print each file's digit and top three scores; 1 if any file failed.
    An unwritable --show folder is a store.OutputError, raised before any prediction."""
    from .store import check_output, dumps
    if show_dir is not None:
        check_output(show_dir, "--show")
    try:
        net, cfg = load_model(model)
    except (FileNotFoundError, ValueError, RuntimeError, KeyError, OSError) as e:
        print(f"lecun1989: error: cannot load model {model!r}: {e}", file=sys.stderr)
        return 1
    preds = predict_files(files, net, cfg)
    if show_dir is not None:
        for p, name in zip(preds, _show_names(preds)):
            if p.image is not None:
                save_input(p.image, Path(show_dir) / name)
    for p in preds:
        if as_json:
            print(dumps(p.as_json()), flush=True)
        else:
            print(p.as_text(), file=sys.stdout if p.error is None else sys.stderr, flush=True)
    return 1 if any(p.error is not None for p in preds) else 0
