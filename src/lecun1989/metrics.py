"""Loss, error, misses and the per-pass line, computed from a split's outputs.

Both engines hand their outputs (N, 10) to `summarize`, so every figure downstream is computed
by the same code. The loss follows the head: for the tanh head the anchor's
`mean((Y - Yhat) ** 2)` over all N x 10 outputs with +-1 targets; for the linear head the mean
softmax cross-entropy over the split (the anchor's modern script printed the loss of its last
training example instead - a known bug not repeated here).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def targets(labels: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """+1 for the class, -1 elsewhere (float32), as the anchor's data script builds them."""
    y = torch.full((labels.shape[0], n_classes), -1.0, dtype=torch.float32)
    y[torch.arange(labels.shape[0]), labels] = 1.0
    return y


def loss_of(outputs: torch.Tensor, labels: torch.Tensor, head: str) -> float:
    if head == "tanh":
        return float(torch.mean((targets(labels) - outputs) ** 2))
    return float(F.cross_entropy(outputs, labels))


def summarize(outputs: torch.Tensor, labels: torch.Tensor, head: str) -> dict:
    """loss, error (a fraction), misses (the true integer count) and n for one split."""
    outputs = torch.as_tensor(outputs, dtype=torch.float32)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    n = int(labels.shape[0])
    misses = int((outputs.argmax(dim=1) != labels).sum())
    return {"loss": loss_of(outputs, labels, head), "error": misses / n, "misses": misses, "n": n}


def is_finite(record: dict) -> bool:
    return math.isfinite(record["loss"])


def eval_line(split: str, rec: dict) -> str:
    """The anchor's per-split line, e.g. `eval: split train. loss 4.073383e-03. error 0.62%. misses: 45`."""
    return (f"eval: split {split:5s}. loss {rec['loss']:e}. error {100 * rec['error']:.2f}%. "
            f"misses: {rec['misses']}")
