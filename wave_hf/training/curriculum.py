"""Curriculum on one dataset parameter (the paper's horizon schedule for the T1-T4 tasks: 10, 20, 40, 60, 100).

Start at ``values[0]``; as soon as a training batch's metric passes the threshold, move to the next value. Passing the
threshold at the last value marks the curriculum ``completed`` (the run may then stop early on its evaluation target).
The state is two numbers, saved with every checkpoint.

Ours rather than a library's: the level is decided by the metric of each training batch and changes the parameters
of the next batch's data, which a fixed dataset behind a DataLoader (accelerate's, transformers' Trainer) cannot do.
"""

from __future__ import annotations

from typing import Any

from .schema import CurriculumConfig

__all__ = ["Curriculum"]


class Curriculum:
    """Tracks the current level of a ``CurriculumConfig`` (or does nothing when the config is None).

    Args:
        config: the curriculum section of the run config, or None for a fixed dataset.
        higher_is_better: True for accuracies (pass = metric > threshold), False for losses (pass = metric < threshold).
    """

    def __init__(self, config: CurriculumConfig | None, higher_is_better: bool = True):
        self.config = config
        self.higher_is_better = higher_is_better
        self.level = 0
        self.completed = config is None
        self.advanced_at: list[int] = []  # optimizer steps at which the level went up (for the plots)

    @property
    def active(self) -> bool:
        return self.config is not None

    @property
    def value(self) -> Any:
        """The current value of the curriculum parameter, or None without a curriculum."""
        return None if self.config is None else self.config.values[self.level]

    def params(self) -> dict[str, Any]:
        """Dataset parameters to merge over the run's ``dataset.params`` for the next training batch."""
        return {} if self.config is None else {self.config.param: self.value}

    def passes(self, metric: float) -> bool:
        assert self.config is not None
        t = self.config.threshold
        return metric > t if self.higher_is_better else metric < t

    def observe(self, metric: float, step: int) -> bool:
        """Record the metric of the training batch of optimizer step ``step``; return True when the level changed."""
        if self.config is None or self.completed or not self.passes(metric):
            return False
        if self.level + 1 < len(self.config.values):
            self.level += 1
            self.advanced_at.append(step)
            return True
        self.completed = True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"level": self.level, "completed": self.completed, "advanced_at": list(self.advanced_at),
                "values": None if self.config is None else list(self.config.values)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.config is None:
            return
        if state.get("values") != list(self.config.values):
            raise ValueError(
                f"checkpoint curriculum values {state.get('values')} differ from the run config's "
                f"{list(self.config.values)}"
            )
        self.level = int(state["level"])
        self.completed = bool(state["completed"])
        self.advanced_at = [int(s) for s in state.get("advanced_at", [])]
