"""The paper's optimizer: "a special version of Newton's algorithm that uses a positive, diagonal
approximation of the Hessian matrix" (LeCun et al. 1989, citing LeCun 1987 and Becker & LeCun
1988), in the stochastic diagonal Levenberg-Marquardt form of LeCun et al. 1998 ("Gradient-based
learning applied to document recognition", appendix) and "Efficient BackProp":

    w_k <- w_k - eps / (mu + h_kk) * dE/dw_k

with h_kk a Gauss-Newton (never negative) estimate of d2E/dw_k2, back-propagated like the
gradient but with squared weights and squared derivatives, ignoring off-diagonal terms:

    d2E/da_i2  = f'(a_i)^2 * sum_k w_ki^2 * d2E/da_k2          (a_i: pre-activation of unit i)
    d2E/dw_ij2 = sum over connections sharing the weight of d2E/da_i2 * x_j^2

At the output the loss's own second derivative starts the recursion: for the tanh head, MSE as
the mean over the 10 outputs gives d2E/dyhat2 = 2/10, so d2E/da2 = f'(a)^2 * 0.2; for the linear
head with softmax cross-entropy, the diagonal of its Gauss-Newton matrix, p (1 - p).

Each stage is diag(J^T D J), with J the local Jacobian (of a layer's pre-activations with respect
to its weights, or to the layer below) and D the diagonal from above; tests check every stage
against brute-force torch.func Jacobians. Through more than one hidden layer this is LeCun's
approximation, not the exact diagonal of the whole network's Gauss-Newton matrix (the cross terms
between paths are dropped); `exact_gn_diagonal` computes that one for comparison.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_input, conv2d_weight

from . import activations
from .config import MSE_FACTOR
from .model import BACKGROUND, PAD, STRIDE, Net1989, h2_inputs

MSE_D2 = 2.0 / 10.0    # d2/dyhat2 of mean over 10 outputs of (y - yhat)^2
# d2/dyhat2 of each MSE normalisation (Config.mse_norm): the mean over the 10 outputs, half the
# sum (1/2 sum (y - yhat)^2, the textbook form), the sum
MSE_D2_OF = MSE_FACTOR


def forward_parts(model: Net1989, x: torch.Tensor, params: dict | None = None) -> dict[str, torch.Tensor]:
    """model.forward without dropout, keeping what the second-order pass needs; `params`
    (name -> tensor) replaces the model's weights (for torch.func)."""
    w = params if params is not None else dict(model.named_parameters())
    act = model.act
    p0 = F.pad(x, (PAD,) * 4, "constant", BACKGROUND)                       # (N, 1, 20, 20)
    a1 = F.conv2d(p0, w["H1w"], stride=STRIDE) + w["H1b"]                   # (N, 12, 8, 8)
    p1 = F.pad(act(a1), (PAD,) * 4, "constant", BACKGROUND)                 # (N, 12, 12, 12)
    tab = model.h2_blocks
    blocks = [F.conv2d(xi, w["H2w"][lo:hi], stride=STRIDE) for xi, (lo, hi, _) in zip(h2_inputs(p1, tab), tab)]
    a2 = torch.cat(blocks, dim=1) + w["H2b"]                                # (N, 12, 4, 4)
    x3 = act(a2).flatten(start_dim=1)                                       # (N, 192)
    a3 = x3 @ w["H3w"] + w["H3b"]                                           # (N, 30)
    x4 = act(a3)
    a4 = x4 @ w["outw"] + w["outb"]                                         # (N, 10)
    return dict(p0=p0, a1=a1, p1=p1, a2=a2, x3=x3, a3=a3, x4=x4, a4=a4)


def output_d2(model: Net1989, a4: torch.Tensor, mse_norm: str = "mean") -> torch.Tensor:
    """d2E/da2 at the output pre-activations (N, 10): the start of the recursion."""
    if model.cfg.head == "linear":
        p = torch.softmax(a4, dim=1)
        return p * (1 - p)
    return activations.head_of(model.cfg.activation).torch_grad(a4) ** 2 * MSE_D2_OF[mse_norm]


@torch.no_grad()
def gn_diagonal(model: Net1989, x: torch.Tensor, *, stages: bool = False, mse_norm: str = "mean"):
    """LeCun's back-propagated Gauss-Newton diagonal, averaged over the examples in x.

    Returns {param name: tensor of its shape}; with stages=True also the per-example d2E/da2
    of every layer (for tests)."""
    dt = model.H1w.dtype
    x = x.to(dt)
    f = forward_parts(model, x)
    dact = activations.get(model.cfg.activation).torch_grad       # f'(a) from the pre-activation
    n = x.shape[0]
    h: dict[str, torch.Tensor] = {}
    # output layer: a4 = x4 @ outw + outb
    d4 = output_d2(model, f["a4"], mse_norm)                                          # (N, 10)
    h["outw"] = (f["x4"] ** 2).T @ d4                                       # (30, 10)
    h["outb"] = d4.sum(0)
    # H3: d2E/da3 = f'(a3)^2 * (d4 @ (outw^2)^T)
    d3 = dact(f["a3"]) ** 2 * (d4 @ (model.outw ** 2).T)              # (N, 30)
    h["H3w"] = (f["x3"] ** 2).T @ d3                                        # (192, 30)
    h["H3b"] = d3.sum(0)
    # H2: d2E/da2 = f'(a2)^2 * (d3 @ (H3w^2)^T), back in map shape
    d2 = dact(f["a2"]) ** 2 * (d3 @ (model.H3w ** 2).T).view_as(f["a2"])   # (N, 12, 4, 4)
    h["H2b"] = d2.sum(0)
    p1sq = f["p1"] ** 2
    h2w = torch.zeros_like(model.H2w)
    dp1 = torch.zeros_like(f["p1"])                                         # d2E/d(padded H1)^2
    for lo, hi, ranges in model.h2_blocks:
        maps = [m for a, b in ranges for m in range(a, b)]
        inp = p1sq[:, maps]
        # weight sharing: every connection of a kernel weight adds d2E/da2 * x^2
        h2w[lo:hi] = conv2d_weight(inp, model.H2w[lo:hi].shape, d2[:, lo:hi], stride=STRIDE)
        dp1[:, maps] += conv2d_input(inp.shape, model.H2w[lo:hi] ** 2, d2[:, lo:hi], stride=STRIDE)
    h["H2w"] = h2w
    # H1: the padding is a constant, not a unit: keep the 8x8 interior
    side = f["a1"].shape[-1]
    d1 = dact(f["a1"]) ** 2 * dp1[:, :, PAD:PAD + side, PAD:PAD + side]   # (N, 12, 8, 8)
    h["H1b"] = d1.sum(0)
    h["H1w"] = conv2d_weight(f["p0"] ** 2, model.H1w.shape, d1, stride=STRIDE)
    h = {k: v / n for k, v in h.items()}
    if stages:
        return h, {"a4": d4, "a3": d3, "a2": d2, "a1": d1}
    return h


def exact_gn_diagonal(model: Net1989, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The exact diagonal of the whole net's Gauss-Newton matrix J^T H J (J: Jacobian of the
    output pre-activations in the parameters; H: the diagonal `output_d2`, which is the loss's
    exact Hessian for MSE), averaged over x. For comparison only: one Jacobian per example."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    out = {k: torch.zeros_like(v) for k, v in params.items()}
    for i in range(x.shape[0]):
        xi = x[i:i + 1].to(model.H1w.dtype)
        a4_of = lambda p: forward_parts(model, xi, p)["a4"][0]              # noqa: E731
        jac = torch.func.jacrev(a4_of)(params)                              # {name: (10, *shape)}
        hdiag = output_d2(model, a4_of(params)[None])[0]                     # (10,)
        for k, j in jac.items():
            out[k] += torch.einsum("o,o...->...", hdiag, j ** 2)
    return {k: v / x.shape[0] for k, v in out.items()}
