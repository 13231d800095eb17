"""Other widths of the net (Config.h1_maps, h2_maps, h3_units; docs/size.md): the geometry's
counts, the config's checks, and both engines on a few non-default sizes, held to each other as
tests/test_fast.py holds them at the paper's size (1e-5 of the largest weight after 100 examples)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecun1989 import fast, geometry
from lecun1989.config import Config, ConfigError
from lecun1989.fast.engine import _images
from lecun1989.model import Net1989, counts
from lecun1989.train import net_config

from test_fast import N_SHORT, SDLM, _assert_agree, _digits, _train_both

SIZES = {"x2": dict(h1_maps=24, h2_maps=24, h3_units=60),        # every width doubled
         "odd": dict(h1_maps=12, h2_maps=24, h3_units=36),       # H2 wider than H1, H3 not x30
         "narrow-h2": dict(h1_maps=36, h2_maps=12, h3_units=18)}
RECIPES = {"sgd": dict(lr=0.03),
           "adamw-modern": dict(activation="relu", head="linear", optimizer="adamw", lr=3e-4,
                                dropout=0.25, shift=True),
           "sdlm": dict(activation="scaled-tanh", optimizer="sdlm", lr=3e-4, **SDLM),
           "sdlm-running": dict(activation="scaled-tanh", optimizer="sdlm", lr=3e-4, sdlm_running=0.05, **SDLM)}


def test_the_default_geometry_is_the_papers():
    assert geometry.of(Config()) is geometry.GEOMETRY
    assert counts() == geometry.PAPER_COUNTS == Config().geometry.counts()
    assert geometry.GEOMETRY.h2_blocks == geometry.H2_BLOCKS


def test_widths_scale_the_counts_and_the_h2_table():
    g = Config(**SIZES["x2"]).geometry
    assert g.h2_fan_maps == 16 and g.h2_units == 384
    # 24 maps x 8 x 8 x (25 + 1) + 384 x (400 + 1) + 60 x (384 + 1) + 10 x (60 + 1)
    assert g.counts()["connections"] == 1536 * 26 + 384 * 401 + 60 * 385 + 10 * 61
    assert g.h2_blocks == ((0, 8, ((0, 16),)), (8, 16, ((8, 24),)), (16, 24, ((0, 8), (16, 24))))
    model = Net1989(net_config(Config(**SIZES["x2"])), seed=1)
    assert sum(p.numel() for p in model.parameters()) == g.counts()["parameters"]
    for scheme in ("anchor", "lenet5", "random"):
        rows = geometry.h2_table(scheme, 1, g)
        assert len(rows) == 24 and all(len(set(r)) == 16 for r in rows)


def test_the_default_widths_leave_the_hash_unchanged():
    assert Config().hash() == Config(h1_maps=12, h2_maps=12, h3_units=30).hash() == "bcf369b8837a"


@pytest.mark.parametrize("kw", [dict(h1_maps=16), dict(h2_maps=0), dict(h3_units=31),
                                dict(h1_maps=24, h2_scheme="lenet5")])
def test_a_width_the_engines_cannot_take_is_a_one_line_error(kw):
    with pytest.raises(ConfigError) as e:
        Config(**kw)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("recipe", RECIPES)
def test_short_run_at_another_width_matches_reference(size, recipe):
    cfg = Config(**SIZES[size], **RECIPES[recipe])
    x, y = _digits(N_SHORT)
    _assert_agree(*_train_both(cfg, x, y))


@pytest.mark.parametrize("scheme", ["lenet5", "random"])
def test_other_h2_tables_at_twice_the_width_match_reference(scheme):
    cfg = Config(**SIZES["x2"], h2_scheme=scheme, h2_seed=2, activation="scaled-tanh",
                 optimizer="sdlm", lr=3e-4, **SDLM)
    x, y = _digits(N_SHORT)
    _assert_agree(*_train_both(cfg, x, y))


@pytest.mark.parametrize("size", SIZES)
def test_predict_and_hessian_at_another_width(size):
    from lecun1989 import sdlm
    cfg = Config(**SIZES[size], activation="scaled-tanh", optimizer="sdlm", **SDLM)
    model = Net1989(net_config(cfg), seed=3)
    eng = fast.FastEngine(cfg, model)
    x, _ = _digits(43, seed=1)
    model.eval()
    with torch.no_grad():
        want = model(x)
    assert float((eng.predict(x) - want).abs().max()) <= 1e-5
    X = _images(x, np.float32)
    assert np.array_equal(eng.predict_numpy(X), eng.predict_numpy(X, per_example=True))
    eng.estimate_hessian(x)
    want, got = sdlm.gn_diagonal(model, x), eng.hessian()
    for name in want:
        scale = float(want[name].abs().max())
        diff = float((got[name] - want[name]).abs().max())
        assert scale > 0 and diff <= 1e-5 * scale, f"{name}: max diff {diff:.3g} > 1e-5 x {scale:.3g}"


def test_the_size_ladder_is_a0_and_a4_at_three_widths_with_the_tricks_between():
    from lecun1989 import ladder
    from lecun1989.config import PRESETS
    c = {k: p.config for k, p in PRESETS.items()}
    assert c["s1"] == c["a0"] and c["s1a4"] == c["a4"]
    assert all(c[f"s1a{i}"] == c[f"a{i}"] for i in (1, 2, 3))
    for k in (2, 4):
        w = dict(h1_maps=12 * k, h2_maps=12 * k, h3_units=30 * k)
        assert c[f"s{k}"] == c["a0"].with_overrides(**w) and c[f"s{k}a4"] == c["a4"].with_overrides(**w)
    bases = {k: PRESETS[k].base for k in ("s2", "s4", "s1a1", "s1a2", "s1a3", "s1a4", "s2a4", "s4a4")}
    assert bases == {"s2": "s1", "s4": "s2", "s1a1": "s1", "s1a2": "s1a1", "s1a3": "s1a2", "s1a4": "s1a3",
                     "s2a4": "s1a4", "s4a4": "s2a4"}
    assert not {p.name for p in ladder.ladder_steps("all")} & {"s2", "s4", "s2a4", "s4a4"}


def test_the_size_figure_draws_from_the_rows(tmp_path):
    from lecun1989.figures import fig_size, png_bytes, size_points
    class Row:                                  # the fields size_points reads of a stats.StepStats
        def __init__(self, preset, macs, misses):
            self.preset, self.macs_per_digit, self.misses = preset, macs, misses
    rows = [Row("s1", 63660, {1: 80, 2: 84}), Row("s2", 215640, {1: 70, 2: 72}),
            Row("s1a1", 63660, {1: 78, 2: 79}), Row("s1a4", 63660, {1: 44, 2: 46}),
            Row("s2a4", 215640, {1: 35, 2: 38})]
    pts = size_points(rows, {"steps": {"s1": {"us_per_digit": {"fast_batched": 1.9}}}})
    assert [p["group"] for p in pts] == ["1989 recipe (a0)", "1989 recipe (a0)", "tricks",
                                         "modern recipe (a4)", "modern recipe (a4)"]
    assert pts[0]["us"] == 1.9 and pts[2]["label"] == "a1"
    assert png_bytes(fig_size(pts))[:4] == b"\x89PNG"
