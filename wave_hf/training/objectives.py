"""Loss and metric statistics as *sums and counts*, so they add up exactly over processes and micro-batches.

The model's own ``.loss`` is a mean over its slice of the batch; averaging such means over processes is only the
global mean when every slice scores the same number of elements. The trainer therefore computes the summed loss and
normalises by the count of the whole global batch (known on every process, since every process draws the global
batch): 1 process and N processes then follow the same gradient. This is why the trainer neither uses the models'
``.loss`` nor ``accelerator.accumulate`` (which averages micro-batch means) for its gradient.

- ``values`` tasks: squared error over ``loss_mask`` steps and all output dims (the paper's MSE on t >= s); bit
  accuracy = sign agreement (prediction >= 0 <-> target > 0) on the same elements.
- ``tokens`` tasks: next-token cross-entropy (HF causal convention: logits[:, :-1] vs labels[:, 1:], -100
  ignored); token accuracy = argmax agreement on the same positions. A corpus batch also carries
  ``num_scored_bytes`` (per row: the UTF-8 bytes of exactly the tokens this loss scores, see
  ``wave_hf.data.corpus``), summed alongside, so that bits per byte = (loss sum in nats / ln 2) / scored bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Stats", "batch_count", "compute_stats", "metric_value", "NUM_TOTALS"]

IGNORE_INDEX = -100
NUM_TOTALS = 4  # [loss_sum, count, correct, scored_bytes]


@dataclass
class Stats:
    """``loss_sum`` keeps its graph (for backward); the other fields are detached float tensors. ``scored_bytes``
    is the UTF-8 bytes of the scored tokens (corpus batches; 0 when the batch has no ``num_scored_bytes``)."""

    loss_sum: torch.Tensor
    count: torch.Tensor
    correct: torch.Tensor
    scored_bytes: torch.Tensor | None = None

    def detached(self) -> torch.Tensor:
        """[loss_sum, count, correct, scored_bytes] (``NUM_TOTALS``) as one float64 vector (to reduce across
        processes in one call)."""
        scored = self.scored_bytes if self.scored_bytes is not None else torch.zeros((), device=self.count.device)
        return torch.stack([self.loss_sum.detach().double(), self.count.double(), self.correct.double(),
                            scored.double()])


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
        scored = batch.get("num_scored_bytes")
        scored = scored.to(logits.device).sum() if scored is not None else None
        return Stats(loss_sum, valid.sum().float(), correct.float(), scored)
    pred = _predictions(output).float()
    target = batch["targets"].to(pred.device).float()
    if pred.shape != target.shape:
        raise RuntimeError(f"predictions {tuple(pred.shape)} and targets {tuple(target.shape)} differ in shape")
    mask = batch["loss_mask"].to(pred.device).float().unsqueeze(-1)
    loss_sum = ((pred - target).pow(2) * mask).sum()
    correct = (((pred >= 0) == (target > 0)).float() * mask).sum()
    return Stats(loss_sum, mask.sum() * pred.shape[-1], correct.detach())


def metric_value(metric: str, totals: torch.Tensor) -> tuple[float, float]:
    """(loss, metric) from summed [loss_sum, count, correct, scored_bytes]; ``bits_per_byte`` = loss_sum / ln 2 /
    scored_bytes (NaN when no byte was scored)."""
    loss_sum, count, correct, scored_bytes = (float(x) for x in totals)
    loss = loss_sum / max(count, 1.0)
    if metric == "mse":
        return loss, loss
    if metric == "bits_per_byte":
        return loss, loss_sum / math.log(2) / scored_bytes if scored_bytes > 0 else math.nan
    return loss, correct / max(count, 1.0)
