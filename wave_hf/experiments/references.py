"""The reference values the checks compare against (``data/references.yaml``: the paper's, its companion code's,
the Wave-RNN paper's and H3's numbers), as one typed record."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import yaml

__all__ = ["References", "references"]


@dataclass(frozen=True)
class References:
    """Reference values (meanings in ``data/references.yaml``)."""

    phi_cycles: dict[str, list[tuple[int, int]]]
    phi_counts: dict[str, int]
    sbonacci: dict[int, float]
    elman_accuracy: dict[str, float]
    elman_spectral_error: dict[str, float]
    spectral_error_max: float
    wrnn_adding: dict[int, dict[str, tuple[str, float]]]
    wrnn_copy: dict[int, dict[str, float]]
    h3_table: dict[str, dict[str, float]]


@cache
def references() -> References:
    """The reference values shipped with the package."""
    raw = yaml.safe_load(files(__package__).joinpath("data", "references.yaml").read_text())
    return References(
        phi_cycles={t: [(int(lag), int(g)) for lag, g in c] for t, c in raw["phi_cycles"].items()},
        phi_counts={t: int(n) for t, n in raw["phi_counts"].items()},
        sbonacci={int(s): float(v) for s, v in raw["sbonacci"].items()},
        elman_accuracy={t: float(v) for t, v in raw["elman_accuracy"].items()},
        elman_spectral_error={t: float(v) for t, v in raw["elman_spectral_error"].items()},
        spectral_error_max=float(raw["spectral_error_max"]),
        wrnn_adding={int(T): {k: (str(it), float(mse)) for k, (it, mse) in v.items()}
                     for T, v in raw["wrnn_adding"].items()},
        wrnn_copy={int(T): {k: float(x) for k, x in v.items()} for T, v in raw["wrnn_copy"].items()},
        h3_table={task: {k: float(x) for k, x in v.items()} for task, v in raw["h3_table"].items()},
    )
