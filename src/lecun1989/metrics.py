"""Loss, error, misses and the per-pass line, computed from a split's outputs.

Both engines hand their outputs (N, 10) to `summarize`, so every figure downstream is computed
by the same code. The loss follows the head: for the tanh head the anchor's
`mean((Y - Yhat) ** 2)` over all N x 10 outputs with +-1 targets; for the linear head the mean
softmax cross-entropy over the split (the anchor's modern script printed the loss of its last
training example instead - a known bug not repeated here).
"""

from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F


def targets(labels: torch.Tensor, n_classes: int = 10, value: float = 1.0) -> torch.Tensor:
    """+1 for the class, -1 elsewhere (float32), as the anchor's data script builds them;
    +-value with another target value (Config.target)."""
    y = torch.full((labels.shape[0], n_classes), -value, dtype=torch.float32)
    y[torch.arange(labels.shape[0]), labels] = value
    return y


def loss_of(outputs: torch.Tensor, labels: torch.Tensor, head: str, target: float = 1.0) -> float:
    # torch splits a large reduction over its threads, and the float32 sum's last bits follow
    # the split: summed on one thread, a split's loss is the same in every process (the
    # ladders' workers run on one thread; `train` in a shell would run on all cores).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if head == "tanh":
            return float(torch.mean((targets(labels, outputs.shape[1], target) - outputs) ** 2))
        return float(F.cross_entropy(outputs, labels))
    finally:
        torch.set_num_threads(threads)


def summarize(outputs: torch.Tensor, labels: torch.Tensor, head: str, target: float = 1.0) -> dict:
    """loss, error (a fraction), misses (the true integer count), n, and the rejection rate
    needed for 1% error on the rest (`reject_1pct`, a fraction) for one split. The tanh head's
    loss is the MSE (mean over the 10 outputs) against the run's own targets +-target
    (Config.target), as the paper reports its MSE against the targets it trained on."""
    outputs = torch.as_tensor(outputs, dtype=torch.float32)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    n = int(labels.shape[0])
    misses = int((outputs.argmax(dim=1) != labels).sum())
    return {"loss": loss_of(outputs, labels, head, target), "error": misses / n, "misses": misses, "n": n,
            "reject_1pct": rejection_at(outputs, labels, head, REJECT_TARGET)}


# -- rejection (LeCun et al. 1989: "12.1% for 1% classification error on the remaining
#    (nonrejected) test patterns"; a pattern is rejected when the difference between the two
#    most active output units is below a threshold) -----------------------------------------
REJECT_TARGET = 0.01


def margins(outputs: torch.Tensor, head: str) -> torch.Tensor:
    """Difference between the two most active outputs. For the linear head the activities are
    the softmax probabilities (logit gaps are not comparable across examples)."""
    act = torch.softmax(outputs.double(), dim=1) if head == "linear" else outputs.double()
    top2 = torch.topk(act, 2, dim=1).values
    return top2[:, 0] - top2[:, 1]


def rejection_curve(outputs: torch.Tensor, labels: torch.Tensor, head: str):
    """(rejected share, error on the rest) for k = 0 .. N-1 rejected, lowest margin first."""
    outputs = torch.as_tensor(outputs, dtype=torch.float32)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    n = labels.shape[0]
    wrong = (outputs.argmax(dim=1) != labels).double()
    order = torch.argsort(margins(outputs, head), stable=True)
    rejected_wrong = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(wrong[order], 0)[:-1]])
    k = torch.arange(n, dtype=torch.float64)
    err_rest = (wrong.sum() - rejected_wrong) / (n - k)
    return (k / n).numpy(), err_rest.numpy()


def rejection_at(outputs: torch.Tensor, labels: torch.Tensor, head: str, target: float = REJECT_TARGET) -> float:
    """The smallest share of examples rejected (lowest margin first) so that the error on the
    remaining ones is at most `target`: the first point of `rejection_curve` at or below it.

    Every run computes this twice per pass (both splits), so it takes the curve's steps in numpy
    on the same float64 numbers - the top two activities by a running max and min over the
    columns instead of topk (both exact), the same stable order, cumulative count and division -
    which gives the curve's answer to the last bit at half of torch's per-call cost
    (tests/test_metrics.py compares them)."""
    outputs = torch.as_tensor(outputs, dtype=torch.float32).detach()
    labels = torch.as_tensor(labels, dtype=torch.int64)
    o = outputs.numpy()
    n, c = o.shape
    if n == 0 or c < 2 or not np.isfinite(o).all():
        share, err = rejection_curve(outputs, labels, head)
        ok = (err <= target + 1e-12).nonzero()[0]
        return float(share[ok[0]]) if len(ok) else 1.0
    act = (torch.softmax(outputs.double(), dim=1) if head == "linear" else outputs.double()).numpy()
    cols = np.ascontiguousarray(act.T)
    top1, top2 = cols[0].copy(), np.full(n, -np.inf)
    for col in cols[1:]:
        np.maximum(top2, np.minimum(top1, col), out=top2)
        np.maximum(top1, col, out=top1)
    order = np.argsort(top1 - top2, kind="stable")
    wrong = (o.argmax(axis=1) != labels.numpy()).astype(np.float64)
    rejected_wrong = np.concatenate([np.zeros(1), np.cumsum(wrong[order])[:-1]])
    k = np.arange(n, dtype=np.float64)
    ok = ((wrong.sum() - rejected_wrong) / (n - k) <= target + 1e-12).nonzero()[0]
    return float(k[ok[0]] / n) if len(ok) else 1.0


def eval_line(split: str, rec: dict) -> str:
    """The anchor's per-split line, e.g. `eval: split train. loss 4.073383e-03. error 0.62%. misses: 45`."""
    return (f"eval: split {split:5s}. loss {rec['loss']:e}. error {100 * rec['error']:.2f}%. "
            f"misses: {rec['misses']}")


def rejection_line(rec: dict) -> str:
    return f"rejection for {100 * REJECT_TARGET:.0f}% error on the rest: {100 * rec['reject_1pct']:.1f}% of {rec['n']}"
