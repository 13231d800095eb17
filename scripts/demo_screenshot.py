"""Remake docs/demo.png, the README's picture of `lecun1989 demo`: the page for the shipped nets,
1280 px wide, with a 4 drawn by mouse events in headless Chromium.

    python scripts/demo_screenshot.py [--out docs/demo.png] [--height 1080]

Needs what the demo's browser tests need: Playwright's Python package (the test extra) and the
system Chromium (Debian: apt-get install chromium); no browser is downloaded.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from lecun1989 import demo

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
FOUR = [[(0.62, 0.12), (0.20, 0.62), (0.82, 0.62)], [(0.62, 0.30), (0.62, 0.90)]]   # in box fractions


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/demo.png", help="the PNG to write (default: %(default)s)")
    ap.add_argument("--height", type=int, default=1080, help="viewport height in px (default: %(default)s)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        print("demo_screenshot: chromium not found (Debian: apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        page_file = Path(tmp) / "demo.html"
        if demo.demo_command(out=str(page_file)) != 0:
            return 1
        browser = p.chromium.launch(executable_path=exe, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": args.height})
        page.goto(page_file.as_uri())
        box = page.locator("#draw").bounding_box()
        at = lambda q: (box["x"] + q[0] * box["width"], box["y"] + q[1] * box["height"])
        for stroke in FOUR:
            page.mouse.move(*at(stroke[0]))
            page.mouse.down()
            for q in stroke[1:]:
                page.mouse.move(*at(q), steps=15)
            page.mouse.up()
        page.wait_for_timeout(200)
        page.screenshot(path=args.out)
        browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
