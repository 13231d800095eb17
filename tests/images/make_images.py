"""Render the digit images used by tests/test_predict.py (run once; the PNG/JPEG files are kept).

    python tests/images/make_images.py

Three sets, file names <style>-<digit>.<ext>, the digit being the true label:
- font-*:   DejaVu Sans at 90 px, black on white, 8-bit grey PNG, 140x160 canvas, digit off-centre;
- inv-*:    Liberation Sans Bold at 40 px, light grey ink on a dark grey board (the reverse
            polarity), RGB PNG, 90x70 canvas;
- pen-*:    drawn strokes (a round pen along hand-made polylines), dark blue ink on cream paper,
            RGB JPEG (quality 85), 220x260 canvas - the closest to a digit written by hand.
Plus a few bad files for the error paths: not-an-image.png (text), empty.png (0 bytes),
truncated.png (the first half of a good PNG), blank.png (a white page, no ink).
The fonts are Debian's fonts-dejavu-core and fonts-liberation.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LIBERATION_BOLD = "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"


def font_digit(d: int, font: str, size: int, canvas: tuple[int, int], offset: tuple[int, int],
               ink, paper, mode: str) -> Image.Image:
    im = Image.new(mode, canvas, paper)
    draw = ImageDraw.Draw(im)
    f = ImageFont.truetype(font, size)
    draw.text(offset, str(d), font=f, fill=ink)
    return im


def _arc(cx, cy, rx, ry, a0, a1, n=24):
    """Points on an ellipse from angle a0 to a1 (degrees; 0 = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


# Strokes in a unit box (x right, y down), roughly as a person writes each digit.
STROKES = {
    0: [_arc(0.5, 0.5, 0.32, 0.45, -90, 270)],
    1: [[(0.45, 0.08), (0.55, 0.05), (0.5, 0.95)]],
    2: [_arc(0.5, 0.3, 0.3, 0.25, 200, 370) + [(0.2, 0.92), (0.85, 0.92)]],
    3: [_arc(0.48, 0.28, 0.3, 0.22, 200, 450) + _arc(0.48, 0.72, 0.34, 0.24, -90, 150)],
    4: [[(0.55, 0.05), (0.15, 0.65), (0.9, 0.65)], [(0.65, 0.3), (0.65, 0.97)]],
    5: [[(0.8, 0.06), (0.3, 0.06), (0.25, 0.45)] + _arc(0.48, 0.67, 0.33, 0.27, -120, 150)],
    6: [[(0.7, 0.05), (0.4, 0.3)] + _arc(0.5, 0.7, 0.3, 0.26, 200, 560)],
    7: [[(0.15, 0.08), (0.85, 0.08), (0.4, 0.95)]],
    8: [_arc(0.5, 0.27, 0.25, 0.22, 90, 450), _arc(0.5, 0.71, 0.3, 0.25, -90, 270)],
    9: [_arc(0.5, 0.3, 0.28, 0.24, 0, 360), [(0.78, 0.3), (0.72, 0.95)]],
}


def pen_digit(d: int, canvas=(220, 260), box=(50, 40, 170, 220), width=14) -> Image.Image:
    im = Image.new("RGB", canvas, (250, 245, 225))
    draw = ImageDraw.Draw(im)
    x0, y0, x1, y1 = box
    for stroke in STROKES[d]:
        pts = [(x0 + x * (x1 - x0), y0 + y * (y1 - y0)) for x, y in stroke]
        draw.line(pts, fill=(20, 30, 110), width=width, joint="curve")
        for p in (pts[0], pts[-1]):       # round pen ends
            draw.ellipse((p[0] - width / 2, p[1] - width / 2, p[0] + width / 2, p[1] + width / 2),
                         fill=(20, 30, 110))
    return im


def main() -> None:
    for d in range(10):
        font_digit(d, DEJAVU, 90, (140, 160), (30 + 4 * d, 20), 0, 255, "L").save(HERE / f"font-{d}.png")
        font_digit(d, LIBERATION_BOLD, 40, (90, 70), (30, 12), (210, 210, 210), (40, 45, 50),
                   "RGB").save(HERE / f"inv-{d}.png")
        pen_digit(d).save(HERE / f"pen-{d}.jpg", quality=85)
    bad = HERE / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "not-an-image.png").write_text("this is text, not a PNG\n")
    (bad / "empty.png").write_bytes(b"")
    blob = (HERE / "font-3.png").read_bytes()
    (bad / "truncated.png").write_bytes(blob[: len(blob) // 2])
    Image.new("L", (64, 64), 255).save(bad / "blank.png")


if __name__ == "__main__":
    main()
