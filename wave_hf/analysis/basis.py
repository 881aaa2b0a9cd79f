"""Basis recovery: from a trained RNN's weights to the wave substrate (the paper's basis change) and back.

Two constructions:

- ``grounded_bases`` (emt-tools' ``get_grounded_bases``): ground on the readout, ``V = pinv(W_hy)`` (n, d) (or on the
  input map, ``V = W_uh``), then column block k of Psi is ``Psi_k = W_hh^(s-k) V`` (k = s ... 1; so ``Psi_s = V`` holds
  the newest column and ``Psi_1 = W_hh^(s-1) V`` the oldest), every column normalised to unit norm. Cell pruning keeps
  only the cells of the theory Phi whose deletion lowers the count of ``|lambda| > threshold`` (the "active" cells:
  64 for T1, 36 for T2..T4). The dual basis is ``Psi* = pinv(Psi)``; the empirical operator is ``Psi* W_hh Psi``.
- ``krylov_basis`` (the later "wave canonical form"): ``B = [V, W V, W^2 V, ...]``, a column kept only while the rank
  grows, ``B* = pinv(B)``; ``B* W B`` is a block-shift (observer) form, identity blocks below the diagonal.

Why the pruning matters (a wave embedded in a dense RNN, ``W_hh = Psi Phi Psi^+``): ``Phi E_k = E_{k-1} + E_s A_k``
(the boundary re-injects column k when ``A_k != 0``), so when ``V = Psi E_s`` (input grounding, any full-rank Psi;
readout grounding when Psi has orthonormal columns, since then ``pinv(E_s^T Psi^+) = Psi E_s``) the power
``W^(s-k) V`` equals Psi's column (k, j) exactly for every cell (k, j) that is still on its way to the boundary, i.e.
every active cell, and picks up boundary terms only on the "fall-off" cells that pruning removes.

Cells are indexed ``k*d + j`` (0-based): component j of substrate column k+1, the layout of Phi (operators.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._checks import matrix, positive_int, square_matrix, to_numpy
from .spectra import count_above

__all__ = [
    "KrylovBasis",
    "WaveBasis",
    "active_cells",
    "grounded_bases",
    "recovery_error",
    "krylov_basis",
    "structure_energy_fraction",
    "structure_mask",
    "structure_report",
    "with_residual_components",
]


def as_hidden(hidden: Any, n: int) -> np.ndarray:
    """Hidden states (..., n) as float64 numpy; raises naming `hidden` when the last size is not n."""
    h = to_numpy(hidden, "hidden")
    if h.ndim < 1 or h.shape[-1] != n:
        raise ValueError(f"`hidden` must have shape (..., n={n}); got {h.shape}")
    return h


def active_cells(phi: Any, threshold: float = 0.8) -> np.ndarray:
    """Indices (sorted, int) of the cells of ``phi`` whose removal (row and column) lowers the number of eigenvalues
    with ``|lambda| > threshold``."""
    phi = square_matrix(phi, "phi")
    full = count_above(phi, threshold)
    keep = []
    for c in range(phi.shape[0]):
        rest = np.delete(np.delete(phi, c, axis=0), c, axis=1)
        if count_above(rest, threshold) < full:
            keep.append(c)
    return np.asarray(keep, dtype=np.int64)


@dataclass
class WaveBasis:
    """A (possibly pruned) wave basis of an RNN's hidden space.

    psi: (n, m) basis columns: first the wave cells (in ``cells`` order), then ``n_extra`` orthogonal
        residual directions. psi_dual: (m, n) ``pinv(psi)``. cells: (m - n_extra,) cell indices ``k*d + j``.
    """

    psi: np.ndarray
    psi_dual: np.ndarray
    cells: np.ndarray
    s: int
    d: int
    n_extra: int = 0
    grounding: str = "readout"
    extra: dict = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    def empirical_phi(self, W_hh: Any) -> np.ndarray:
        """``Psi* W_hh Psi`` (m, m): the trained operator in wave coordinates."""
        W = square_matrix(W_hh, "W_hh")
        if W.shape[0] != self.psi.shape[0]:
            raise ValueError(f"`W_hh` is {W.shape} but the basis lives in R^{self.psi.shape[0]}")
        return self.psi_dual @ W @ self.psi

    def coordinates(self, hidden: Any) -> np.ndarray:
        """``Psi* h``: hidden states (..., n) -> wave coordinates (..., m)."""
        return as_hidden(hidden, self.psi.shape[0]) @ self.psi_dual.T

    def substrate(self, hidden: Any) -> tuple[np.ndarray, np.ndarray]:
        """Hidden states (..., n) -> substrate view (..., s, d) (column 1 oldest first) and the (s, d) mask of kept
        cells; pruned cells read 0."""
        coords = self.coordinates(hidden)[..., : self.n_cells]
        grid = np.zeros(coords.shape[:-1] + (self.s * self.d,))
        grid[..., self.cells] = coords
        mask = np.zeros(self.s * self.d, dtype=bool)
        mask[self.cells] = True
        return grid.reshape(coords.shape[:-1] + (self.s, self.d)), mask.reshape(self.s, self.d)

    def block_edges(self) -> list[int]:
        """Positions (in basis order) where a new substrate column (block) starts, plus the start of the extra block;
        used for the block lines of the ``Psi* W_hh Psi`` heatmap."""
        cols = self.cells // self.d
        edges = [i for i in range(1, len(cols)) if cols[i] != cols[i - 1]]
        if self.n_extra:
            edges.append(self.n_cells)
        return edges


def _unit_columns(X: np.ndarray, name: str) -> np.ndarray:
    norms = np.linalg.norm(X, axis=0)
    if np.any(norms == 0) or not np.all(np.isfinite(norms)):
        raise ValueError(f"{name}: a basis column is zero or not finite (W_hh powers vanished or overflowed)")
    return X / norms


def grounded_bases(
    W_hh: Any,
    s: int,
    W_hy: Any | None = None,
    W_uh: Any | None = None,
    phi: Any | None = None,
    ground: str = "readout",
    threshold: float = 0.8,
) -> WaveBasis:
    """Readout- (or input-) grounded wave basis of an RNN.

    Args:
        W_hh: (n, n) recurrent weights. s: substrate length (history).
        W_hy: (d, n) readout (``y = W_hy h``), needed for ``ground="readout"`` (the emt-tools default).
        W_uh: (n, d) input weights, needed for ``ground="input"`` (the paper's stated grounding).
        phi: theory operator (s*d, s*d); when given, cells are pruned to ``active_cells(phi, threshold)``.
    Returns: a ``WaveBasis`` with columns ordered by cell (column 1 oldest ... column s newest, then component).
    """
    W = square_matrix(W_hh, "W_hh")
    n = W.shape[0]
    s = positive_int(s, "s")
    if ground == "readout":
        if W_hy is None:
            raise ValueError("ground='readout' needs `W_hy` (d, n)")
        V = np.linalg.pinv(matrix(W_hy, "W_hy", cols=n))
    elif ground == "input":
        if W_uh is None:
            raise ValueError("ground='input' needs `W_uh` (n, d)")
        V = matrix(W_uh, "W_uh", rows=n)
    else:
        raise ValueError(f"`ground` must be 'readout' or 'input'; got {ground!r}")
    d = V.shape[1]
    if s * d > n:
        raise ValueError(f"the substrate needs s*d = {s * d} directions but the hidden space has only n = {n}")
    blocks = [None] * s
    cur = V
    for k in range(s - 1, -1, -1):  # column k+1 = W^(s-1-k) V; newest (k = s-1) first
        blocks[k] = _unit_columns(cur, "grounded_bases")
        cur = W @ cur
    full = np.concatenate(blocks, axis=1)  # (n, s*d), cell k*d + j
    if phi is not None:
        phi = square_matrix(phi, "phi")
        if phi.shape[0] != s * d:
            raise ValueError(f"`phi` must be (s*d, s*d) = ({s * d}, {s * d}); got {phi.shape}")
        cells = active_cells(phi, threshold)
    else:
        cells = np.arange(s * d)
    psi = full[:, cells]
    return WaveBasis(psi=psi, psi_dual=np.linalg.pinv(psi), cells=cells, s=s, d=d, grounding=ground)


def recovery_error(basis: WaveBasis, P: Any) -> dict[str, float]:
    """How far a recovered basis is from the known one, up to the ambiguity of the construction: each column is only
    determined up to scale and sign (the grounded columns are normalised), so compare directions.

    Args:
        basis: a recovered ``WaveBasis`` (its wave cells are compared). P: (n, s*d) the known basis, all cells.

    Returns:
        ``column_mismatch``: max over the kept cells of ``1 - |cos|`` between the recovered column and P's column;
        ``subspace_angle``: the largest principal angle (rad) between their spans; both 0 for an exact recovery.
    """
    P = matrix(P, "P", rows=basis.psi.shape[0], cols=basis.s * basis.d)
    got, true = basis.psi[:, : basis.n_cells], P[:, basis.cells]
    g, t = _unit_columns(got, "recovery_error"), _unit_columns(true, "recovery_error")
    mismatch = float(np.max(1 - np.abs(np.sum(g * t, axis=0)))) if basis.n_cells else 0.0
    qg, qt = np.linalg.qr(got)[0], np.linalg.qr(true)[0]
    sine = np.linalg.norm(qg - qt @ (qt.T @ qg), 2) if basis.n_cells else 0.0  # sin of the largest angle
    return {"column_mismatch": max(mismatch, 0.0), "subspace_angle": float(np.arcsin(min(1.0, sine)))}


def with_residual_components(basis: WaveBasis, hidden: Any, k: int = 10) -> WaveBasis:
    """Append the top-``k`` principal directions of the residual ``h - Psi Psi* h`` of simulated hidden states
    (N, n) (or (B, T, n)) as an extra block. ``Psi Psi*`` is the orthogonal projector onto
    span(Psi), so the residual directions are orthogonal to the wave columns."""
    k = positive_int(k, "k")
    H = as_hidden(hidden, basis.psi.shape[0]).reshape(-1, basis.psi.shape[0])
    cells_psi = basis.psi[:, : basis.n_cells]
    resid = H - (H @ np.linalg.pinv(cells_psi).T) @ cells_psi.T
    resid = resid - resid.mean(axis=0, keepdims=True)
    _, sv, vt = np.linalg.svd(resid, full_matrices=False)
    k = min(k, int(np.sum(sv > sv[0] * 1e-10)) if sv.size and sv[0] > 0 else 0)
    psi = np.concatenate([cells_psi, vt[:k].T], axis=1)
    return WaveBasis(
        psi=psi,
        psi_dual=np.linalg.pinv(psi),
        cells=basis.cells,
        s=basis.s,
        d=basis.d,
        n_extra=k,
        grounding=basis.grounding,
        extra={"residual_singular_values": sv[:k]},
    )


def structure_mask(phi: Any, basis: WaveBasis, tol: float = 0.0) -> np.ndarray:
    """The expected support (m, m) of ``Psi* W_hh Psi``: True where the theory Phi restricted to the kept cells is
    nonzero (shift identities and the task's boundary entries); the extra residual block is expected to hold nothing."""
    phi = square_matrix(phi, "phi")
    if phi.shape[0] != basis.s * basis.d:
        raise ValueError(f"`phi` must be ({basis.s * basis.d}, {basis.s * basis.d}); got {phi.shape}")
    m = basis.psi.shape[1]
    mask = np.zeros((m, m), dtype=bool)
    sub = phi[np.ix_(basis.cells, basis.cells)]
    mask[: basis.n_cells, : basis.n_cells] = np.abs(sub) > tol
    return mask


def structure_report(phi_emp: Any, phi: Any, basis: WaveBasis) -> dict[str, float]:
    """How close ``Psi* W_hh Psi`` (wave-cell block) is to the theory Phi restricted to the kept cells.

    Note: with grounded bases ``Psi_{k-1} = W Psi_k`` up to normalisation, so the superdiagonal shift entries are
    there *by construction* for any W_hh; what they carry is their size (norm ratios: about 1 for an undamped
    wave). The evidence is in the boundary block row (W applied to the oldest kept cells) and in the overall error.

    Returns ``relative_error`` (Frobenius, vs the theory block), ``boundary_fraction`` (share of the boundary
    rows' energy on the task's entries), ``boundary_sign_agreement`` (share of the task's boundary entries with the
    theory's sign), ``shift_mean`` / ``shift_std`` (the superdiagonal entries) and ``energy_fraction`` (share of the
    whole block's energy on the theory's support).
    """
    P = matrix(phi_emp, "phi_emp")
    mask = structure_mask(phi, basis)
    m = basis.n_cells
    if P.shape != mask.shape:
        raise ValueError(f"`phi_emp` must have shape {mask.shape} (the basis size); got {P.shape}")
    phi = square_matrix(phi, "phi")
    emp, theory, support = P[:m, :m], phi[np.ix_(basis.cells, basis.cells)], mask[:m, :m]
    boundary_rows = (basis.cells // basis.d) == basis.s - 1
    shift = support & ~boundary_rows[:, None]
    bnd = support & boundary_rows[:, None]
    row_energy = float(np.sum(emp[boundary_rows] ** 2))
    return {
        "relative_error": float(np.linalg.norm(emp - theory) / max(np.linalg.norm(theory), 1e-300)),
        "boundary_fraction": float(np.sum(emp[bnd] ** 2) / row_energy) if row_energy > 0 else 0.0,
        "boundary_sign_agreement": float(np.mean(np.sign(emp[bnd]) == np.sign(theory[bnd]))) if bnd.any() else 0.0,
        "shift_mean": float(emp[shift].mean()) if shift.any() else float("nan"),
        "shift_std": float(emp[shift].std()) if shift.any() else float("nan"),
        "energy_fraction": structure_energy_fraction(emp, support),
    }


def structure_energy_fraction(phi_emp: Any, mask: Any) -> float:
    """Fraction of the squared Frobenius energy of ``phi_emp`` on the entries where ``mask`` is True."""
    P = matrix(phi_emp, "phi_emp")
    M = np.asarray(mask, dtype=bool)
    if M.shape != P.shape:
        raise ValueError(f"`mask` must have the shape of `phi_emp` {P.shape}; got {M.shape}")
    total = float(np.sum(P**2))
    return float(np.sum(P[M] ** 2) / total) if total > 0 else 0.0


@dataclass
class KrylovBasis:
    """``B = [V, W V, W^2 V, ...]`` (n, r) with ``dual = pinv(B)`` (r, n). ``power[c]`` / ``source[c]``: the power of W
    and the column of V behind basis column c. ``canonical_form(W) = dual @ W @ B``."""

    basis: np.ndarray
    dual: np.ndarray
    power: np.ndarray
    source: np.ndarray

    def canonical_form(self, W_hh: Any) -> np.ndarray:
        W = square_matrix(W_hh, "W_hh")
        if W.shape[0] != self.basis.shape[0]:
            raise ValueError(f"`W_hh` is {W.shape} but the basis lives in R^{self.basis.shape[0]}")
        return self.dual @ W @ self.basis


def krylov_basis(W_hh: Any, V: Any, max_dim: int | None = None, tol: float = 1e-8) -> KrylovBasis:
    """Wave canonical form basis (the AUSSM ``wave_transform`` variant).

    Columns are visited power by power (``W^p V[:, j]`` for j = 0..d-1) and kept while they raise the rank: the
    component orthogonal to the kept columns must exceed ``tol`` times the vector's norm. Stops when a whole power adds
    nothing (the Krylov space is invariant), at ``max_dim`` columns, or at n.
    """
    W = square_matrix(W_hh, "W_hh")
    n = W.shape[0]
    V = matrix(V, "V", rows=n)
    limit = n if max_dim is None else min(n, positive_int(max_dim, "max_dim"))
    Q = np.zeros((n, 0))
    cols, power, source = [], [], []
    cur = V.copy()
    p = 0
    while len(cols) < limit:
        added = False
        for j in range(cur.shape[1]):
            v = cur[:, j]
            norm = np.linalg.norm(v)
            if norm == 0 or not np.isfinite(norm):
                continue
            r = v - Q @ (Q.T @ v)
            r = r - Q @ (Q.T @ r)  # re-orthogonalise (classical Gram-Schmidt twice)
            if np.linalg.norm(r) > tol * norm:
                Q = np.concatenate([Q, (r / np.linalg.norm(r))[:, None]], axis=1)
                cols.append(v)
                power.append(p)
                source.append(j)
                added = True
                if len(cols) == limit:
                    break
        if not added:
            break
        cur = W @ cur
        p += 1
    B = np.stack(cols, axis=1) if cols else np.zeros((n, 0))
    return KrylovBasis(basis=B, dual=np.linalg.pinv(B), power=np.asarray(power), source=np.asarray(source))
