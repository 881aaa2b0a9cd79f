"""Figures of the analysis (PNG, and one animated GIF), drawn with matplotlib's object API (no pyplot state, no
display needed). Every function writes ``path`` and returns it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .basis import WaveBasis
from .spectra import eigenvalues

__all__ = [
    "plot_gradient_curves",
    "plot_learning_curves",
    "plot_phi_heatmap",
    "plot_spectrum_overlay",
    "plot_wave_frames",
    "save_wave_gif",
]


def _save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def plot_spectrum_overlay(
    theory: Any, trained: Any, path: str | Path, title: str = "", threshold: float | None = 0.8, decimals: int = 6
) -> Path:
    """Eigenvalues of the theory Phi (red x, with multiplicity labels) and of the trained W_hh (blue x) in the complex
    plane, with the unit circle and, if given, the ``threshold`` circle. ``theory``/``trained``: matrices or 1-D
    eigenvalue arrays."""
    th, tr = eigenvalues(theory, "theory"), eigenvalues(trained, "trained")
    fig = Figure(figsize=(5.2, 5.2))
    ax = fig.add_subplot()
    circ = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(circ), np.sin(circ), color="0.6", lw=0.8)
    if threshold is not None:
        ax.plot(threshold * np.cos(circ), threshold * np.sin(circ), color="0.8", lw=0.6, ls="--")
    ax.scatter(tr.real, tr.imag, marker="x", color="tab:blue", s=28, label=f"trained ({len(tr)})", zorder=3)
    ax.scatter(th.real, th.imag, marker="x", color="tab:red", s=40, label=f"theory ({len(th)})", zorder=4)
    keys, counts = np.unique(np.round(th, decimals), return_counts=True)
    for z, c in zip(keys, counts):
        if c > 1 and abs(z) > 1e-3:
            ax.annotate(
                str(c),
                (z.real, z.imag),
                xytext=(z.real * 1.12, z.imag * 1.12),
                fontsize=7,
                color="tab:red",
                ha="center",
                va="center",
            )
    lim = max(1.3, float(np.max(np.abs(np.concatenate([th, tr])))) * 1.1 if len(th) + len(tr) else 1.3)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("Re")
    ax.set_ylabel("Im")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def plot_phi_heatmap(phi_emp: Any, basis: WaveBasis, path: str | Path, title: str = "") -> Path:
    """Heatmap of ``Psi* W_hh Psi`` with thin lines between substrate columns (blocks) and thick black lines before
    the extra residual block. The colour scale is set by the wave block (residual entries beyond it saturate)."""
    P = np.asarray(phi_emp, dtype=np.float64)
    fig = Figure(figsize=(6.4, 5.6))
    ax = fig.add_subplot()
    # colour scale from the wave block, so that the shift entries (about 1) stay visible next to the residual block
    vmax = max(float(np.abs(P[: basis.n_cells, : basis.n_cells]).max()), 1e-12)
    im = ax.imshow(P, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    for e in basis.block_edges():
        thick = basis.n_extra and e == basis.n_cells
        kw = dict(color="black", lw=2.0) if thick else dict(color="0.5", lw=0.5)
        ax.axhline(e - 0.5, **kw)
        ax.axvline(e - 0.5, **kw)
    ax.set_title(title)
    ax.set_xlabel("basis column (substrate column 1 ... s, then residual)")
    ax.set_ylabel("basis row")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _save(fig, path)


def _draw_frame(ax, frame: np.ndarray, mask: np.ndarray, t: int) -> Any:
    shown = np.ma.masked_array(frame.T, mask=~mask.T)  # rows = components, columns = substrate columns
    im = ax.imshow(shown, cmap="RdBu_r", vmin=-2, vmax=2, interpolation="nearest", origin="lower")
    ax.set_title(f"t = {t}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def plot_wave_frames(frames: Any, mask: Any, times: Sequence[int], path: str | Path, title: str = "") -> Path:
    """Panels of the substrate view (x = substrate column 1..s, y = component) at the given times."""
    F = np.asarray(frames, dtype=np.float64)
    M = np.asarray(mask, dtype=bool)
    times = [t for t in times if 0 <= t < F.shape[0]]
    if not times:
        raise ValueError(f"`times` holds no index in [0, {F.shape[0]})")
    cols = min(4, len(times))
    rows = -(-len(times) // cols)
    fig = Figure(figsize=(2.0 * cols, 2.1 * rows + 0.4))
    im = None
    for i, t in enumerate(times):
        ax = fig.add_subplot(rows, cols, i + 1)
        im = _draw_frame(ax, F[t], M, t)
    fig.suptitle(title + "\nx: substrate column 1..s (waves travel right to left), y: component", fontsize=9)
    fig.colorbar(im, ax=fig.axes, shrink=0.6)
    return _save(fig, path)


def save_wave_gif(frames: Any, mask: Any, path: str | Path, fps: int = 3, title: str = "") -> Path:
    """Animated GIF of the substrate view over time (one frame per step)."""
    from PIL import Image

    F = np.asarray(frames, dtype=np.float64)
    M = np.asarray(mask, dtype=bool)
    images = []
    for t in range(F.shape[0]):
        fig = Figure(figsize=(3.0, 3.0), dpi=80)
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        _draw_frame(ax, F[t], M, t)
        if title:
            fig.suptitle(title, fontsize=8)
        canvas.draw()
        images.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy()))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / max(fps, 1)), loop=0)
    return path


def plot_gradient_curves(curves: Mapping[int, Any], path: str | Path, title: str = "", logy: bool = True,
                         ylabel: str = "normalised ||dC/dx(i)||") -> Path:
    """A normalised gradient norm (``ylabel``) against the distance i, one curve per training step (colour = step),
    with the reference line at 1.0 (the value the paper's gradient figure shows after training). ``logy``: logarithmic y
    axis (decay at initialisation and growth after training often span several decades)."""
    if not curves:
        raise ValueError("`curves` is empty")
    steps = sorted(curves)
    norm = Normalize(vmin=min(steps), vmax=max(max(steps), min(steps) + 1))
    fig = Figure(figsize=(5.6, 4.0))
    ax = fig.add_subplot()
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable

    cmap = colormaps["viridis"]
    for st in steps:
        y = np.asarray(curves[st], dtype=np.float64)
        ax.plot(np.arange(len(y)), y, color=cmap(norm(st)), marker="o", ms=3, lw=1.2)
    ax.axhline(1.0, color="tab:blue", lw=0.8, ls="--")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("distance propagated i")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="training step")
    return _save(fig, path)


def plot_learning_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    ylabel: str = "loss",
    title: str = "",
    logy: bool = True,
    xlabel: str = "training step",
) -> Path:
    """One line per label: ``curves[label] = (steps, values)`` (or other x values, named by ``xlabel``)."""
    if not curves:
        raise ValueError("`curves` is empty")
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot()
    for label, (xs, ys) in curves.items():
        ax.plot(list(xs), list(ys), label=label, lw=1.2)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)
