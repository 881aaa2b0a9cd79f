"""Run sizes of the reproduction (``data/settings.yaml``): ``quick`` for the test suite, ``full`` for the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from importlib.resources import files
from typing import Any

import yaml

__all__ = ["MODES", "Settings", "settings_for"]

MODES = ("quick", "full")


@dataclass
class Settings:
    """How much the reproduction trains and evaluates (field meanings in ``data/settings.yaml``)."""

    elman_runs: list[tuple[str, int]]
    elman_variants: dict[str, list[tuple[str, int]]]
    elman_steps: int
    elman_variant_steps: dict[str, int]
    elman_eval_every: int
    grad_checkpoints: int
    exact_horizon: int
    cmp_tasks: list[str]
    cmp_steps: int
    lstm_hidden: int
    copy_delays: list[int]
    copy_steps: int
    adding_lengths: list[int]
    adding_steps: int
    h3_steps: dict[str, int]
    h3_lrs: list[float]
    h3_full_steps: int
    h3_hidden: int
    mqar_lengths: list[int]
    mqar_widths: list[int]
    mqar_steps: int
    eval_batches: int
    main_seeds: list[int]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (tuples as lists), as report.json and report.md print it."""
        d = asdict(self)
        d["elman_runs"] = [list(r) for r in self.elman_runs]
        d["elman_variants"] = {k: [list(r) for r in v] for k, v in self.elman_variants.items()}
        return d


def _load(mode: str) -> Settings:
    data = yaml.safe_load(files(__package__).joinpath("data", "settings.yaml").read_text())
    if mode not in data:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    raw = data[mode]
    names = {f.name for f in fields(Settings)}
    if set(raw) != names:
        raise ValueError(f"data/settings.yaml `{mode}`: keys {sorted(set(raw) ^ names)} missing or unknown")
    raw["elman_runs"] = [(str(task), int(seed)) for task, seed in raw["elman_runs"]]
    raw["elman_variants"] = {str(name): [(str(task), int(seed)) for task, seed in runs]
                             for name, runs in raw["elman_variants"].items()}
    raw["elman_variant_steps"] = {str(name): int(n) for name, n in raw["elman_variant_steps"].items()}
    unknown = sorted(set(raw["elman_variant_steps"]) - set(raw["elman_variants"]))
    if unknown:
        raise ValueError(f"data/settings.yaml `{mode}`: elman_variant_steps names variants {unknown} that "
                         "elman_variants does not run")
    raw["main_seeds"] = [int(seed) for seed in raw["main_seeds"]]
    raw["h3_lrs"] = [float(lr) for lr in raw["h3_lrs"]]
    bad = [n for n in raw["mqar_lengths"] if n % 8 or n < 16]
    if bad:
        raise ValueError(f"data/settings.yaml `{mode}`: mqar_lengths {bad} must be multiples of 8, at least 16 "
                         "(num_kv_pairs = length / 8)")
    if not raw["main_seeds"]:
        raise ValueError(f"data/settings.yaml `{mode}`: main_seeds names no seed")
    if not raw["h3_lrs"]:
        raise ValueError(f"data/settings.yaml `{mode}`: h3_lrs names no learning rate")
    return Settings(**raw)


_STEP_FIELDS = ("elman_steps", "cmp_steps", "copy_steps", "adding_steps", "h3_full_steps", "mqar_steps")


def settings_for(mode: str, scale: float = 1.0) -> Settings:
    """The settings of ``mode`` with every training length multiplied by ``scale`` (at least 10 steps each); the
    evaluation interval of the Elman runs is kept at most a third of their length (and at least 10)."""
    if not scale > 0:
        raise ValueError(f"`scale` must be > 0; got {scale}")
    st = _load(mode)

    def scaled(steps: int) -> int:
        return max(10, int(round(steps * scale)))

    for name in _STEP_FIELDS:
        setattr(st, name, scaled(getattr(st, name)))
    st.h3_steps = {task: scaled(n) for task, n in st.h3_steps.items()}
    st.elman_variant_steps = {variant: scaled(n) for variant, n in st.elman_variant_steps.items()}
    st.elman_eval_every = max(10, min(st.elman_eval_every, st.elman_steps // 3))
    return st
