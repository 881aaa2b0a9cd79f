"""How numbers and verdicts are printed in the report."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["cell", "fmt", "mark"]


def fmt(x: Any, digits: int = 4) -> str:
    """A number for the report: ``digits`` significant digits, scientific below 1e-3 and from 1e5; "-" for None."""
    if x is None:
        return "-"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(x):
            return str(x)
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.2e}"
        return f"{x:.{digits}g}"
    return str(x)


def cell(text: str) -> str:
    """Markdown table cell: escape the pipes of |lambda| and friends."""
    return str(text).replace("|", "\\|")


def mark(passed: bool | None) -> str:
    """The verdict column: yes, **no**, or n/a for informational rows."""
    return "n/a" if passed is None else ("yes" if passed else "**no**")
