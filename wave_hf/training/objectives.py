"""Loss and metric statistics as *sums and counts*, so they add up exactly over processes and micro-batches.

The model's own ``.loss`` is a mean over its slice of the batch; averaging such means over processes is only the
global mean when every slice scores the same number of elements. The trainer therefore computes the summed loss and
normalises by the count of the whole global batch (known on every process, since every process draws the global
batch): 1 process and N processes then follow the same gradient.

- ``values`` tasks: squared error over ``loss_mask`` steps and all output dims (the paper's MSE on t >= s); bit
  accuracy = sign agreement (prediction >= 0 <-> target > 0) on the same elements.
- ``tokens`` tasks: next-token cross-entropy (HF causal convention: logits[:, :-1] vs labels[:, 1:], -100
  ignored); token accuracy = argmax agreement on the same positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Stats", "batch_count", "compute_stats", "metric_value"]

IGNORE_INDEX = -100


@dataclass
class Stats:
    """``loss_sum`` keeps its graph (for backward); the other fields are detached float tensors."""

    loss_sum: torch.Tensor
    count: torch.Tensor
    correct: torch.Tensor

    def detached(self) -> torch.Tensor:
        """[loss_sum, count, correct] as one float64 vector (to reduce across processes in one call)."""
        return torch.stack([self.loss_sum.detach().double(), self.count.double(), self.correct.double()])


def batch_count(batch: dict[str, torch.Tensor], kind: str) -> float:
    """Number of scored elements in ``batch`` (the loss normaliser)."""
    if kind == "tokens":
        return float((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    return float(batch["loss_mask"].float().sum() * batch["targets"].shape[-1])


def _predictions(output) -> torch.Tensor:
    for name in ("predictions", "logits"):
        value = getattr(output, name, None)
        if value is not None:
            return value
    raise RuntimeError(f"model output {type(output).__name__} has neither `predictions` nor `logits`")


def compute_stats(output, batch: dict[str, torch.Tensor], kind: str) -> Stats:
    """Summed loss, scored-element count and correct count for one (micro-)batch."""
    if kind == "tokens":
        logits = output.logits[:, :-1].float()
        labels = batch["labels"][:, 1:].to(logits.device).long()
        valid = labels != IGNORE_INDEX
        loss_sum = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                   ignore_index=IGNORE_INDEX, reduction="sum")
        correct = ((logits.argmax(-1) == labels) & valid).sum()
        return Stats(loss_sum, valid.sum().float(), correct.float())
    pred = _predictions(output).float()
    target = batch["targets"].to(pred.device).float()
    if pred.shape != target.shape:
        raise RuntimeError(f"predictions {tuple(pred.shape)} and targets {tuple(target.shape)} differ in shape")
    mask = batch["loss_mask"].to(pred.device).float().unsqueeze(-1)
    loss_sum = ((pred - target).pow(2) * mask).sum()
    correct = (((pred >= 0) == (target > 0)).float() * mask).sum()
    return Stats(loss_sum, mask.sum() * pred.shape[-1], correct.detach())


def metric_value(metric: str, totals: torch.Tensor) -> tuple[float, float]:
    """(loss, metric) from summed [loss_sum, count, correct]."""
    loss_sum, count, correct = (float(x) for x in totals)
    count = max(count, 1.0)
    loss = loss_sum / count
    if metric == "mse":
        return loss, loss
    return loss, correct / count
