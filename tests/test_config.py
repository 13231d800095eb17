import pytest

from lecun1989.config import Config, ConfigError, lr_at


def test_defaults_are_the_anchors():
    c = Config()
    assert (c.data, c.activation, c.head, c.optimizer, c.lr, c.schedule, c.passes, c.seed) == (
        "mnist1989", "tanh", "tanh", "sgd", 0.03, "constant", 23, 1337)
    assert c.dropout == 0.0 and c.shift is False and c.train_size == 0


@pytest.mark.parametrize("kw", [dict(lr=-1.0), dict(lr=float("nan")), dict(passes=0), dict(activation="sigmoid"),
                                dict(head="softmax"), dict(dropout=1.0), dict(optimizer="adam"), dict(data="cifar"),
                                dict(train_size=-3), dict(seed=-1), dict(passes=2.5), dict(shift="yes"), dict(lr="0.1")])
def test_bad_values_are_refused(kw):
    with pytest.raises(ConfigError):
        Config(**kw)


def test_overrides_check_keys_and_types():
    c = Config()
    assert c.with_overrides(lr=0.01).lr == 0.01
    assert c.with_overrides(lr=1).lr == 1.0 and isinstance(c.with_overrides(lr=1).lr, float)
    with pytest.raises(ConfigError, match="unknown config key"):
        c.with_overrides(learning_rate=0.1)
    with pytest.raises(ConfigError):
        c.with_overrides(passes="23")


def test_hash_is_stable_and_depends_on_every_field():
    a = Config()
    assert a.hash() == Config().hash()
    assert a.hash() != a.with_overrides(seed=1338).hash()
    assert Config.from_dict(a.to_dict()) == a


def test_linear_schedule_from_lr_to_a_third():
    c = Config(lr=3e-4, schedule="linear", passes=46)
    assert lr_at(c, 0) == pytest.approx(3e-4)
    assert lr_at(c, 45) == pytest.approx(1e-4)
    assert lr_at(c, 0) > lr_at(c, 20) > lr_at(c, 45)
    assert lr_at(Config(lr=0.5), 10) == 0.5


# -- the unknowns of the paper ---------------------------------------------------------------------
def test_new_fields_at_their_defaults_keep_every_run_name():
    """Config.hash covers only fields off their defaults: the presets' run names (and so the run
    store and the documented ladders) are those computed before the fields existed."""
    from lecun1989.config import preset
    assert preset("a0").config.hash() == "bcf369b8837a"
    assert preset("p2").config.hash() == "c11115afaf26"
    assert Config(h2_scheme="lenet5").hash() != Config().hash()


@pytest.mark.parametrize("kw", [dict(h2_scheme="blocks"), dict(target=0.0), dict(target=1.2), dict(mse_norm="rms"),
                                dict(init="xavier"), dict(h2_seed=-1), dict(head="linear", target=0.8),
                                dict(head="linear", mse_norm="sum"), dict(activation="scaled-tanh", target=1.8)])
def test_bad_unknowns_are_refused(kw):
    with pytest.raises(ConfigError):
        Config(**kw)


def test_scaled_tanh_allows_targets_past_one():
    assert Config(activation="scaled-tanh", target=1.5).target == 1.5


def test_lenet5_schedule_decreases_eps_as_lenet5_did():
    """LeCun et al. 1998: 0.0005 for 2 passes, 0.0002 for 3, 0.0001 for 3, 0.00005 for 4, then 0.00001."""
    c = Config(optimizer="sdlm", lr=5e-4, schedule="lenet5")
    want = [5e-4] * 2 + [2e-4] * 3 + [1e-4] * 3 + [5e-5] * 4 + [1e-5] * 11
    assert [lr_at(c, p) for p in range(23)] == pytest.approx(want, rel=1e-12)
