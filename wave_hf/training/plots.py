"""The loss/metric curve PNG written at the end of a run (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

from .logs import read_csv

__all__ = ["plot_curves"]


def plot_curves(log_dir: str | Path, path: str | Path, metric: str, title: str = "",
                curriculum_param: str | None = None) -> Path:
    """Two panels from ``train.csv``/``eval.csv``: loss (log scale) and the task metric over optimizer steps; the
    steps where the curriculum moved on are marked. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    train = read_csv(Path(log_dir) / "train.csv")
    evals = read_csv(Path(log_dir) / "eval.csv")
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 3.8))
    steps = [r["step"] for r in train]
    if train:
        loss = [r["loss"] for r in train]
        ax_loss.plot(steps, loss, lw=1, label="train loss")
        ax_metric.plot(steps, [r[metric] for r in train], lw=1, label=f"train {metric}")
    if evals:
        ax_loss.plot([r["step"] for r in evals], [r["loss"] for r in evals], "o-", ms=3, label="eval loss")
        ax_metric.plot([r["step"] for r in evals], [r[metric] for r in evals], "o-", ms=3, label=f"eval {metric}")
    if any(v > 0 and math.isfinite(v) for r in train + evals for v in [r["loss"]]):
        ax_loss.set_yscale("log")
    if curriculum_param and train and f"curriculum_{curriculum_param}" in train[0]:
        col = f"curriculum_{curriculum_param}"
        for prev, cur in zip(train, train[1:]):
            if cur[col] != prev[col]:
                for ax in (ax_loss, ax_metric):
                    ax.axvline(cur["step"], color="grey", lw=0.6, ls=":")
                ax_metric.annotate(f"{curriculum_param}={cur[col]:g}", (cur["step"], 0.02),
                                   xycoords=("data", "axes fraction"), rotation=90, fontsize=7, color="grey")
    ax_loss.set_xlabel("optimizer step")
    ax_loss.set_ylabel("loss")
    ax_metric.set_xlabel("optimizer step")
    ax_metric.set_ylabel(metric)
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
