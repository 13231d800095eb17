import numpy as np
import pytest
import torch

from lecun1989 import metrics


def test_summarize_counts_misses_and_mse_like_the_anchor():
    out = torch.tensor([[0.9, -1.0, -1.0], [0.2, 0.5, -1.0], [-1.0, -1.0, 0.1]])
    y = torch.tensor([0, 0, 2])
    rec = metrics.summarize(out, y, "tanh")
    assert rec["misses"] == 1 and rec["n"] == 3 and rec["error"] == pytest.approx(1 / 3)
    t = metrics.targets(y, 3)
    assert rec["loss"] == pytest.approx(float(torch.mean((t - out) ** 2)))


def test_rejection_rejects_lowest_margins_first():
    # 100 examples: 5 wrong with the smallest margins, 95 right with larger margins
    n = 100
    out = torch.zeros(n, 10)
    y = torch.zeros(n, dtype=torch.int64)
    for i in range(n):
        m = 0.01 * (i + 1)
        if i < 5:
            out[i, 1] = m          # wrong: class 1 beats class 0 by a small margin
        else:
            out[i, 0] = m          # right
    assert metrics.summarize(out, y, "tanh")["misses"] == 5
    # reject the 5 wrong ones (lowest margins) -> 0% error; 1% target: 95 left may hold 0 errors,
    # with 4 rejected, 1 error in 96 = 1.04% > 1%, so exactly 5 must go
    assert metrics.rejection_at(out, y, "tanh") == pytest.approx(0.05)
    share, err = metrics.rejection_curve(out, y, "tanh")
    assert share[0] == 0 and err[0] == pytest.approx(0.05) and err[5] == 0
    assert np.all(np.diff(err[:6]) < 0)


def test_no_rejection_needed_when_error_is_low():
    out = torch.eye(10).repeat(10, 1)
    y = torch.arange(10).repeat(10)
    assert metrics.rejection_at(out, y, "linear") == 0.0


def _rejection_from_curve(out, y, head):
    share, err = metrics.rejection_curve(out, y, head)
    ok = (err <= metrics.REJECT_TARGET + 1e-12).nonzero()[0]
    return float(share[ok[0]]) if len(ok) else 1.0


@pytest.mark.parametrize("head", ["tanh", "linear"])
@pytest.mark.parametrize("n,levels", [(2007, None), (7291, None), (2007, 5), (500, 3), (300, 2)])
def test_rejection_at_is_the_curves_first_point_to_the_last_bit(head, n, levels):
    """rejection_at takes the curve's steps in numpy: the same share as the torch curve for
    nets of every quality, with many tied margins (outputs on a coarse grid) and tied maxima."""
    g = torch.Generator().manual_seed(n + (levels or 0))
    for quality in (0.0, 1.0, 3.0, 8.0):
        y = torch.randint(0, 10, (n,), generator=g)
        out = torch.rand((n, 10), generator=g) * 2 - 1
        out[torch.arange(n), y] += quality * torch.rand(n, generator=g)
        if levels is not None:
            out = torch.round(out * levels) / levels
        assert metrics.rejection_at(out, y, head) == _rejection_from_curve(out, y, head)


def test_rejection_at_of_non_finite_outputs_follows_the_curve():
    out = torch.rand((50, 10)) * 2 - 1
    out[3, 2] = float("nan")
    out[7] = float("inf")
    y = torch.zeros(50, dtype=torch.int64)
    for head in ("tanh", "linear"):
        assert metrics.rejection_at(out, y, head) == _rejection_from_curve(out, y, head)


def test_split_loss_does_not_depend_on_torch_threads():
    """A training split's MSE is a 72,910-element float32 sum, which torch would split over its
    threads (and round differently): the loss must be the same whatever the thread count."""
    import torch
    from lecun1989 import metrics
    g = torch.Generator().manual_seed(0)
    out = torch.rand((7291, 10), generator=g) * 2 - 1
    labels = torch.randint(0, 10, (7291,), generator=g)
    n = torch.get_num_threads()
    try:
        seen = set()
        for k in (1, 2, 4):
            torch.set_num_threads(k)
            seen.add(metrics.loss_of(out, labels, "tanh"))
            assert torch.get_num_threads() == k
    finally:
        torch.set_num_threads(n)
    assert len(seen) == 1


def test_one_mean_sd_and_one_plus_minus():
    """stats.mean_sd and stats.pm are the only ones: one value has no sd (not a 0 that looks
    measured), and every table formats ± the same way."""
    from lecun1989.stats import mean_sd, pm
    assert mean_sd([]) == (None, None) and mean_sd([0.25, None]) == (0.25, None)
    m, sd = mean_sd([0.1, 0.3])
    assert abs(m - 0.2) < 1e-12 and abs(sd - 0.1414213562373095) < 1e-12
    assert pm(None, None) == "-" and pm(0.1, None, pct=True) == "10.00%"
    assert pm(0.1, 0.02, pct=True) == "10.00 ± 2.00%" and pm(0.121, 0.01, pct=True, digits=1) == "12.1 ± 1.0%"
    assert pm(6.2e-3, 1.5e-3, sci=True) == "6.20e-03 ± 1.5e-03"
