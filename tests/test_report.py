"""lecun1989 report: figures and the self-contained HTML page, for a run folder and a ladder folder.

The runs are tiny real runs (300 training digits, 2 passes, the reference torch engine); the
ladder folder is built here to the schema ladder.py writes (results.json + runs/<id>/), so this
file does not depend on the ladder code. The browser test opens the pages in headless Chromium
(Debian package `chromium`) and checks every image decoded; it skips when Chromium is absent
unless LECUN1989_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lecun1989 import figures, report, train
from lecun1989.config import Config
from lecun1989.model import Net1989, NetConfig

TINY = dict(train_size=300, passes=2)


@pytest.fixture(scope="module")
def data():
    return train.load_data(Config())


def _tiny_run(folder: Path, data, **overrides):
    cfg = Config().with_overrides(**{**TINY, **overrides})
    return train.run(cfg, engine="torch", data=data, out=folder, progress=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data) -> Path:
    d = tmp_path_factory.mktemp("run") / "run1"
    _tiny_run(d, data)
    return d


@pytest.fixture(scope="module")
def ladder_dir(tmp_path_factory, data) -> Path:
    """Two steps (a0-like, a1-like) x two seeds, results.json as ladder.py writes it."""
    out = tmp_path_factory.mktemp("ladder") / "lad"
    steps = []
    for name, change, over in (("a0", "1989 baseline", {}),
                               ("a1", "linear head + softmax cross-entropy", {"head": "linear", "lr": 0.01})):
        runs, te, tr, miss = [], [], [], []
        for seed in (1, 2):
            cfg = Config().with_overrides(**{**TINY, **over, "seed": seed})
            rel = f"runs/{cfg.hash()}"
            res = _tiny_run(out / rel, data, **over, seed=seed)
            f_tr, f_te = res.final("train"), res.final("test")
            runs.append({"seed": seed, "dir": rel, "status": "done", "train_error": f_tr["error"],
                         "test_error": f_te["error"], "test_misses": f_te["misses"]})
            tr.append(f_tr["error"])
            te.append(f_te["error"])
            miss.append(f_te["misses"])
        steps.append({
            "step": name, "preset": name, "change": change, "passes": 2, "report_pass": 2, "n": 2,
            "train_error_mean": float(np.mean(tr)), "train_error_sd": float(np.std(tr, ddof=1)),
            "test_error_mean": float(np.mean(te)), "test_error_sd": float(np.std(te, ddof=1)),
            "test_misses_mean": float(np.mean(miss)), "test_misses_min": min(miss),
            "test_misses_max": max(miss),
            "published": {"source": "anchor", "test": "4.09% (82)", "test_misses": 82},
            "delta_misses": None if name == "a0" else -3.5,
            "delta_ci95": None if name == "a0" else [-20.0, 13.0],
            "larger_than_noise": None if name == "a0" else False,
            "diverged": 0, "runs": runs})
    # a seed that never ran: listed as missing, must be skipped
    steps[1]["runs"].append({"seed": 3, "dir": "runs/never", "status": "missing"})
    res = {"ladder": "test", "provenance": {"machine": "test machine", "torch": torch.__version__},
           "seeds": [1, 2], "wall_s": 1.0, "steps": steps}
    (out / "results.json").write_text(json.dumps(res))
    (out / "results.md").write_text("| step |\n")
    return out


def _images_in(html_text: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', html_text)


def _self_contained(html_text: str) -> None:
    for uri in _images_in(html_text):
        assert uri.startswith("data:image/png;base64,"), uri[:60]
        blob = base64.b64decode(uri.split(",", 1)[1])
        assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    # nothing fetched from anywhere: no external scripts, styles, frames or images
    assert not re.search(r'(src|href)="(https?:|//|file:)', html_text)
    assert "<link" not in html_text and "<iframe" not in html_text and "@import" not in html_text


# -- the numbers -------------------------------------------------------------------------------
def test_confusion_counts():
    m = figures.confusion(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]))
    assert m.sum() == 4 and m[0, 0] == 1 and m[0, 1] == 1 and m[2, 1] == 1 and np.trace(m) == 2


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_hidden_layers_are_the_forward_pass(activation):
    net = Net1989(NetConfig(activation=activation, dropout=0.25), seed=3)
    x = torch.rand(5, 1, 16, 16) * 2 - 1
    h1, h2, out = figures.hidden_layers(net, x)
    assert h1.shape == (5, 12, 8, 8) and h2.shape == (5, 12, 4, 4)
    net.eval()
    with torch.no_grad():
        assert torch.equal(out, net(x))
        # H3 and the output computed from the recorded H2 give the net's outputs
        h3 = net.act(h2.flatten(1) @ net.H3w + net.H3b)
        assert torch.allclose(net.out_act(h3 @ net.outw + net.outb), out)
    from lecun1989 import activations
    assert net.act is activations.get(activation).torch                 # restored


# -- a run folder ------------------------------------------------------------------------------
def test_report_on_a_run(run_dir):
    assert report.report_command(run_dir) == 0
    page = (run_dir / report.REPORT_HTML).read_text()
    pngs = sorted(p.name for p in run_dir.glob("*.png"))
    assert len(pngs) >= 3
    assert {"curves.png", "mistakes.png", "confusion.png", "rejection.png", "kernels.png",
            "feature_maps.png"} <= set(pngs)
    imgs = _images_in(page)
    assert len(imgs) == len(pngs)
    # the embedded figures are the written files
    embedded = {base64.b64decode(u.split(",", 1)[1]) for u in imgs}
    assert embedded == {(run_dir / p).read_bytes() for p in pngs}
    _self_contained(page)
    misses = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][-1]["misses"]
    assert f"{misses} misclassified test digits" in page or f"All {misses} misclassified" in page
    assert "config_hash" in page and "torch" in page           # config and versions on the page
    final = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    if "reject_1pct" in final:                                  # the page re-evaluates the same figure
        assert f"{100 * final['reject_1pct']:.1f}% of the test digits" in page
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]    # no temp files left


def test_report_without_checkpoint_still_draws_curves(run_dir, tmp_path):
    d = tmp_path / "partial"
    d.mkdir()
    for name in ("config.json", "metrics.jsonl"):
        shutil.copy(run_dir / name, d / name)
    assert report.report_command(d) == 0
    page = (d / report.REPORT_HTML).read_text()
    assert (d / "curves.png").is_file() and "no checkpoint.pt" in page


def test_report_on_a_folder_that_is_neither(tmp_path, capsys):
    assert report.report_command(tmp_path) == 1
    assert "neither a run folder" in capsys.readouterr().err
    assert report.report_command(tmp_path / "nope") == 1


# -- a ladder folder ---------------------------------------------------------------------------
def test_report_on_a_ladder(ladder_dir):
    assert report.report_command(ladder_dir) == 0
    page = (ladder_dir / report.REPORT_HTML).read_text()
    pngs = sorted(p.name for p in ladder_dir.glob("*.png"))
    assert len(pngs) >= 3 and "common_mistakes.png" in pngs and "curves.png" in pngs
    assert "seeds.png" in pngs and "bands.png" in pngs          # every seed per step; band over passes
    assert len(_images_in(page)) == len(pngs)
    _self_contained(page)
    assert "a0" in page and "a1" in page and "test machine" in page
    assert "step a1, seed 1" in page                     # the detailed run: last step, first seed


def test_ladder_report_survives_a_diverged_and_a_broken_run(ladder_dir, tmp_path):
    d = tmp_path / "lad"
    shutil.copytree(ladder_dir, d)
    res = json.loads((d / "results.json").read_text())
    res["steps"][0]["runs"][1]["status"] = "diverged"
    (d / res["steps"][1]["runs"][1]["dir"] / "checkpoint.pt").write_bytes(b"not a checkpoint")
    (d / "results.json").write_text(json.dumps(res))
    assert report.report_command(d) == 0
    page = (d / report.REPORT_HTML).read_text()
    assert "cannot re-evaluate" in page


# -- the page in a browser ---------------------------------------------------------------------
CHECK_SCRIPT = """<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message || e.type)); }, true);
window.addEventListener('load', function () {
  var imgs = [].slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                .map(function (i) { return i.getAttribute('data-file') || i.alt; });
  var r = document.createElement('pre');
  r.id = 'lecun1989-check';
  r.textContent = JSON.stringify({images: imgs.length, bad: bad, errors: window.__errors,
                                  height: document.body.scrollHeight});
  document.body.appendChild(r);
});
</script>"""

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--virtual-time-budget=10000"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    msg = "chromium not found (Debian: apt-get install chromium); the browser test needs it"
    if os.environ.get("LECUN1989_REQUIRE_BROWSER") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser's path; requested first so a missing browser skips before the runs are trained."""
    return _chromium()


def _open_in_browser(exe: str, html_path: Path, tmp_path: Path) -> dict:
    """Load a copy of the page with a checking script added; the script's verdict, from the DOM."""
    page = html_path.read_text().replace("<head>", "<head>" + CHECK_SCRIPT, 1)
    probe = tmp_path / f"probe-{html_path.parent.name}.html"
    probe.write_text(page)
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                              probe.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="lecun1989-check">([^<]*)</pre>', out.stdout)
    assert m, f"chromium gave no verdict (exit {out.returncode}): {out.stderr[-2000:]}"
    import html as _html
    return json.loads(_html.unescape(m.group(1)))


@pytest.mark.parametrize("which", ["run", "ladder"])
def test_page_renders_in_chromium(chromium, which, run_dir, ladder_dir, tmp_path):
    folder = run_dir if which == "run" else ladder_dir
    if not (folder / report.REPORT_HTML).is_file():
        report.report(folder)
    verdict = _open_in_browser(chromium, folder / report.REPORT_HTML, tmp_path)
    n_png = len(list(folder.glob("*.png")))
    assert verdict["images"] == n_png >= 3
    assert verdict["bad"] == [] and verdict["errors"] == []
    assert verdict["height"] > 1000


def test_browser_check_catches_a_broken_image(chromium, run_dir, tmp_path):
    """The check can fail: a page with one corrupt figure is caught."""
    if not (run_dir / report.REPORT_HTML).is_file():
        report.report(run_dir)
    d = tmp_path / "broken"
    d.mkdir()
    page = (run_dir / report.REPORT_HTML).read_text()
    page = page.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAAA", 1)
    (d / report.REPORT_HTML).write_text(page)
    verdict = _open_in_browser(chromium, d / report.REPORT_HTML, tmp_path)
    assert len(verdict["bad"]) == 1


def test_cli_report(run_dir, capsys):
    from lecun1989 import cli
    assert cli.main(["report", str(run_dir)]) == 0
    assert "report.html" in capsys.readouterr().out
