"""Section 2: the spectrum of the theory's Phi for T1..T4 against the paper's unit-circle counts and the roots of
lambda^L = g of each task's cycles."""

from __future__ import annotations

import numpy as np

from wave_hf.analysis import count_unit_modulus, cycle_roots, phi_from_task_operator, spectral_comparison
from wave_hf.data import task_operator

from ..formatting import fmt
from ..records import Row, SectionResult, construction_rows
from ..references import References
from .common import TASKS, D, S

__all__ = ["section_phi_spectra", "theory_phis"]


def theory_phis() -> dict[str, np.ndarray]:
    """Phi (s*d, s*d) of each task T1..T4, float64."""
    return {task: phi_from_task_operator(task_operator(task, D, S), D, S) for task in TASKS}


def section_phi_spectra(phis: dict[str, np.ndarray], refs: References) -> SectionResult:
    """The rows of section 2 (no training; construction checks)."""
    rows = []
    for task in TASKS:
        phi, expected = phis[task], refs.phi_counts[task]
        n = count_unit_modulus(phi, tol=1e-6)
        rows.append(Row("2", f"{task}: eigenvalues of Phi with |lambda| = 1", str(expected), str(n), n == expected,
                        "equal"))
        cycles = refs.phi_cycles[task]
        cmp = spectral_comparison(phi, cycle_roots(cycles), threshold=0.9)
        desc = " ".join(f"{lag}{'+' if g > 0 else '-'}" for lag, g in cycles)
        rows.append(Row("2", f"{task}: angles vs roots of lambda^L = g for cycles (L,g) = {desc}", "0 rad",
                        f"{fmt(cmp.error)} rad ({cmp.n_first} vs {cmp.n_second})",
                        cmp.counts_equal and cmp.error < 1e-6, "counts equal, error < 1e-6"))
    return SectionResult(construction_rows(rows))
