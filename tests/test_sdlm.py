"""The Gauss-Newton diagonal of the sdlm optimizer against brute-force Jacobians (float64).

Every stage of the back-propagated diagonal is diag(J^T D J), J a local Jacobian taken by
torch.func, D the diagonal from the stage above; the two top layers also equal the exact
diagonal of the whole net's Gauss-Newton matrix."""

import pytest
import torch
import torch.nn.functional as F

from lecun1989 import activations, sdlm
from lecun1989.model import H2_BLOCKS, PAD, STRIDE, Net1989, NetConfig, h2_inputs


def jt_d_j(fn, inp, d):
    """diag(J^T diag(d) J) for J = d fn(inp) / d inp, flattened."""
    j = torch.func.jacrev(fn)(inp).reshape(d.numel(), inp.numel())
    return (d.reshape(-1, 1) * j ** 2).sum(0).reshape(inp.shape)


@pytest.mark.parametrize("activation", ["tanh", "scaled-tanh", "elu"])
def test_every_stage_equals_brute_force_jt_d_j(activation):
    torch.manual_seed(0)
    net = Net1989(NetConfig(activation=activation, head="tanh"), seed=2).double()
    x = torch.rand(3, 1, 16, 16, dtype=torch.float64) * 2 - 1
    h, d = sdlm.gn_diagonal(net, x, stages=True)
    act = net.act
    w = {k: v.detach() for k, v in net.named_parameters()}
    brute = {k: torch.zeros_like(v) for k, v in w.items()}
    for i in range(3):
        f = sdlm.forward_parts(net, x[i:i + 1], w)
        d4, d3, d2, d1 = d["a4"][i], d["a3"][i], d["a2"][i], d["a1"][i]
        # output: a4 = x4 @ outw + outb ; the start of the recursion is f'(a4)^2 * 2/10
        brute["outw"] += jt_d_j(lambda W: f["x4"][0] @ W + w["outb"], w["outw"], d4)
        brute["outb"] += jt_d_j(lambda b: f["x4"][0] @ w["outw"] + b, w["outb"], d4)
        # H3 stage: d3 = diag(J^T d4 J), J = d a4 / d a3
        assert torch.allclose(jt_d_j(lambda a: act(a) @ w["outw"], f["a3"][0], d4), d3, rtol=1e-9, atol=1e-12)
        brute["H3w"] += jt_d_j(lambda W: f["x3"][0] @ W + w["H3b"], w["H3w"], d3)
        brute["H3b"] += jt_d_j(lambda b: f["x3"][0] @ w["H3w"] + b, w["H3b"], d3)
        # H2 stage: d2 = diag(J^T d3 J), J = d a3 / d a2
        assert torch.allclose(jt_d_j(lambda a: act(a).flatten() @ w["H3w"], f["a2"][0], d3), d2, rtol=1e-9, atol=1e-12)

        def a2_of(W, b, p1):
            blocks = [F.conv2d(xi, W[lo:hi], stride=STRIDE) for xi, (lo, hi, _) in zip(h2_inputs(p1), H2_BLOCKS)]
            return torch.cat(blocks, 1)[0] + b

        brute["H2w"] += jt_d_j(lambda W: a2_of(W, w["H2b"], f["p1"]), w["H2w"], d2)
        brute["H2b"] += jt_d_j(lambda b: a2_of(w["H2w"], b, f["p1"]), w["H2b"], d2)
        # H1 stage: through the padded H1 maps (the padding is a constant, not a unit)
        a1 = f["a1"]
        pad_act = lambda a: F.pad(act(a), (PAD,) * 4, value=-1.0)           # noqa: E731
        assert torch.allclose(jt_d_j(lambda a: a2_of(w["H2w"], w["H2b"], pad_act(a)), a1, d2)[0], d1,
                              rtol=1e-9, atol=1e-12)
        brute["H1w"] += jt_d_j(lambda W: F.conv2d(f["p0"], W, stride=STRIDE)[0] + w["H1b"], w["H1w"], d1)
        brute["H1b"] += jt_d_j(lambda b: F.conv2d(f["p0"], w["H1w"], stride=STRIDE)[0] + b, w["H1b"], d1)
    for k in w:
        scale = brute[k].abs().max()
        assert (h[k] - brute[k] / 3).abs().max() <= 1e-6 * max(1.0, float(scale)), k
        assert (h[k] >= 0).all(), k


@pytest.mark.parametrize("activation", ["tanh", "scaled-tanh"])
def test_top_layers_equal_the_exact_gauss_newton_diagonal(activation):
    net = Net1989(NetConfig(activation=activation, head="tanh"), seed=4).double()
    x = torch.rand(2, 1, 16, 16, dtype=torch.float64) * 2 - 1
    h = sdlm.gn_diagonal(net, x)
    exact = sdlm.exact_gn_diagonal(net, x)
    for k in ("outw", "outb", "H3w", "H3b"):
        assert torch.allclose(h[k], exact[k], rtol=1e-9, atol=1e-12), k
    # below H3 LeCun's diagonal drops the cross terms between paths: close, not equal
    assert not torch.allclose(h["H1w"], exact["H1w"], rtol=1e-3)


@pytest.mark.parametrize("activation", activations.NAMES)
def test_each_activation_derivative_is_autograds(activation):
    """sdlm's f'(a) (activations' torch_grad, from the pre-activation) equals autograd's
    derivative of the entry's torch function, in float64, away from relu's kink."""
    entry = activations.get(activation)
    a = torch.cat([torch.linspace(-12, 12, 4001, dtype=torch.float64),
                   torch.tensor([-1e-9, 1e-9, -40.0, 40.0], dtype=torch.float64)])
    a = a[a != 0].requires_grad_()
    entry.torch(a).sum().backward()
    assert torch.allclose(entry.torch_grad(a.detach()), a.grad, rtol=1e-12, atol=1e-15)


def test_elu_hidden_units_keep_the_plain_tanh_head():
    """The head rule of the registry: only the scaled tanh's units give the head their squashing."""
    assert activations.head_of("elu").name == "tanh" and activations.head_of("scaled-tanh").name == "scaled-tanh"
    net = Net1989(NetConfig(activation="elu", head="tanh"), seed=0)
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    net.eval()
    h3 = sdlm.forward_parts(net, x)["x4"]
    assert torch.equal(net(x), torch.tanh(h3 @ net.outw + net.outb))
