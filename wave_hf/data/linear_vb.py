"""Binary linear variable-binding tasks T1..T4 and general task ids (the paper's tasks; EMT code ``binary_linearVB``).

A task is a signed selection: output component j of ``y(t)`` is ``sign_j * y(t - lag_j)[src_j]``, i.e.
``y(t) = F^T vec(y(t-s), ..., y(t-1))`` with the history flattened oldest first (row ``k*d + i`` of F is component
i of the vector at offset k, k = 0 oldest, lag s - k). A task id ``(id1, id2, id3)`` encodes F as in the EMT code:
the set bits of id1 choose d of the s*d history cells (in increasing order), the base-d digits of id2 are swaps
(digit m at position c swaps choice c and c + m; it must be < d - c), and bit j of id3 flips the sign of output j.

Rows: the first s steps carry s random +-1 vectors (inputs) and are not scored (targets 0, loss_mask 0); the next
``horizon`` steps follow the rule. ``input_mode="zeros"`` (the paper) feeds zeros after the prompt;
``input_mode="autoregressive"`` feeds the previous true value ``seq(t-1)`` at every step (``inputs[0] = 0``) so a
model can be rolled out on its own predictions. Changing ``horizon`` keeps the prompt of every row (the curriculum
hook): a row at horizon h is the prefix of the same row at a longer horizon.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ._base import Columns, Family, Param, Params, register

TASK_NAMES = ("T1", "T2", "T3", "T4")
# Ids of T2 and T4 as defined for d = s = 8 (EMT demo notebook naming).
_TASK_IDS_8 = {"T2": (9241421688590303745, 262676, 189), "T4": (9241421688590303745, 38637, 145)}

if TYPE_CHECKING:
    import torch

TaskSpec = str | tuple[int, int, int]


def named_task_id(task: str, d: int, s: int) -> tuple[int, int, int]:
    """Task id of a named task. T1 = repeat copy (any d, s); T3 = component j at lag s - j (needs d <= s);
    T2, T4 only for d = s = 8."""
    if task == "T1":
        return (2**d - 1, 0, 0)
    if task == "T3":
        if d > s:
            raise ValueError(f"linear_vb: task 'T3' (component j at lag s-j) needs d <= s; got d={d}, s={s}")
        return (sum(1 << (j * d + j) for j in range(d)), 0, 0)
    if task in _TASK_IDS_8:
        if (d, s) != (8, 8):
            raise ValueError(
                f"linear_vb: task {task!r} is defined only for d = s = 8; got d={d}, s={s}. "
                "Use task='T1' or 'T3', or pass task_id=(id1, id2, id3)"
            )
        return _TASK_IDS_8[task]
    raise ValueError(f"linear_vb: unknown task {task!r}; allowed: {', '.join(TASK_NAMES)} or task_id=(id1, id2, id3)")


def _task_id(task: TaskSpec, d: int, s: int) -> tuple[int, int, int]:
    if isinstance(task, str):
        return named_task_id(task, d, s)
    if not isinstance(task, (tuple, list)) or len(task) != 3:
        raise ValueError(f"linear_vb: task must be one of {TASK_NAMES} or a tuple (id1, id2, id3); got {task!r}")
    return tuple(int(v) for v in task)  # type: ignore[return-value]


def task_selection(task: TaskSpec, d: int, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode a task (name or id) into ``(lags, sources, signs)``, int arrays of shape (d,): output j is
    ``signs[j] * y(t - lags[j])[sources[j]]``. Raises ``ValueError`` for invalid ids."""
    id1, id2, id3 = _task_id(task, d, s)
    if min(id1, id2, id3) < 0:
        raise ValueError(f"linear_vb: task_id entries must be non-negative; got {(id1, id2, id3)}")
    if id1 >= 1 << (s * d):
        raise ValueError(
            f"linear_vb: task_id[0] (id1) selects history cells, so it must be < 2**(s*d) = 2**{s * d}; got {id1}"
        )
    cells = [c for c in range(s * d) if id1 >> c & 1]
    if len(cells) != d:
        raise ValueError(
            f"linear_vb: task_id[0] (id1) must have exactly d = {d} set bits (one history cell per output "
            f"component, among the s*d = {s * d} cells); got {len(cells)} set bits in {id1}"
        )
    pos, rest = 0, id2
    while rest:
        digit = rest % d
        if digit > 0:
            if digit >= d - pos:
                raise ValueError(
                    f"linear_vb: task_id[1] (id2) base-d digit {pos} must be < d - {pos} = {d - pos}; got {digit} "
                    f"(id2 = {id2}, d = {d})"
                )
            cells[pos], cells[pos + digit] = cells[pos + digit], cells[pos]
        rest //= d
        pos += 1
    if id3 >= 1 << d:
        raise ValueError(f"linear_vb: task_id[2] (id3) holds one sign bit per component, so it must be < 2**d = "
                         f"{2**d}; got {id3}")
    signs = np.array([-1 if id3 >> j & 1 else 1 for j in range(d)], dtype=np.int64)
    cells_a = np.array(cells, dtype=np.int64)
    offsets, sources = np.divmod(cells_a, d)
    return s - offsets, sources, signs


def task_operator_np(task: TaskSpec, d: int = 8, s: int = 8) -> np.ndarray:
    """``task_operator`` as a float64 numpy array (no torch needed)."""
    lags, sources, signs = task_selection(task, d, s)
    F = np.zeros((s * d, d))
    F[(s - lags) * d + sources, np.arange(d)] = signs
    return F


def task_operator(task: TaskSpec, d: int = 8, s: int = 8) -> torch.Tensor:
    """The task operator F (s*d, d), float64 tensor: ``y(t) = F^T vec(y(t-s), ..., y(t-1))`` (oldest first)."""
    import torch

    return torch.from_numpy(task_operator_np(task, d, s))


def task_boundary(task: TaskSpec, d: int = 8, s: int = 8) -> torch.Tensor:
    """The op-convention boundary a (s, d, d) of the task (``a[k-1]`` multiplies the value k steps back)."""
    from wave_hf.ops.companion import boundary_from_operator

    return boundary_from_operator(task_operator(task, d, s), d, s)


def task_phi(task: TaskSpec, d: int = 8, s: int = 8) -> torch.Tensor:
    """The exact companion operator Phi (s*d, s*d) of the task, in the paper layout."""
    from wave_hf.ops.companion import companion_matrix

    return companion_matrix(task_boundary(task, d, s))


def cycle_structure(task: TaskSpec, d: int = 8, s: int = 8) -> list[dict[str, Any]]:
    """Cycles of the map ``j -> sources[j]``: each ``{"components", "lag", "sign"}`` (components in the order the
    map visits them, summed lag, product of signs). A cycle with lag L and sign g contributes the roots of
    ``lambda^L = g`` to the spectrum of Phi; all other eigenvalues are 0."""
    lags, sources, signs = task_selection(task, d, s)
    cycles, seen = [], set()
    for start in range(d):
        path, j = [], start
        while j not in seen and j not in path:
            path.append(j)
            j = int(sources[j])
        seen.update(path)
        if j in path:
            members = path[path.index(j):]
            cycles.append({
                "components": members,
                "lag": int(sum(lags[m] for m in members)),
                "sign": int(np.prod([signs[m] for m in members])),
            })
    return cycles


@register
class LinearVB(Family):
    name = "linear_vb"
    kind = "real"
    metric = "bit_accuracy"
    summary = (
        "Binary linear variable binding (Karuvally et al. 2024 / EMT): s random +-1 vectors, then "
        "y(t) = F^T vec(y(t-s..t-1)) for `horizon` steps; the first s targets are masked. Metric: bit_accuracy "
        "(sign of the prediction vs the +-1 target on scored steps)."
    )
    params = {
        "d": Param(8, "state dimension (components per vector)", "int", minimum=1),
        "s": Param(8, "history length = number of prompt vectors", "int", minimum=1),
        "task": Param(None, "named task (T1 repeat copy, T2, T3, T4); default T1", "str", choices=TASK_NAMES,
                      optional=True),
        "task_id": Param(None, "EMT task id (id1, id2, id3); alternative to `task`", "int_tuple", length=3,
                         optional=True),
        "horizon": Param(36, "number of scored steps after the prompt (the curriculum knob)", "int", minimum=1),
        "input_mode": Param("zeros", "'zeros' (paper) or 'autoregressive' (inputs[t] = seq(t-1))", "str",
                            choices=("zeros", "autoregressive")),
    }
    presets = {t: {"task": t} for t in TASK_NAMES}

    def check(self, p: Params) -> None:
        named = None if p["task_id"] is not None and p["task"] is None else named_task_id(p["task"] or "T1", p["d"],
                                                                                          p["s"])
        if named is not None and p["task_id"] is not None and p["task_id"] != named:
            raise ValueError(f"linear_vb: task={p['task']!r} has task_id={named}, which differs from the given "
                             f"task_id={p['task_id']}; pass only one of them")
        tid = p["task_id"] if p["task_id"] is not None else named
        task_selection(tid, p["d"], p["s"])  # validates
        p["task_id"] = tid

    def seq_len(self, p: Params) -> int:
        return p["s"] + p["horizon"]

    def sizes(self, p: Params) -> dict[str, int | None]:
        return {"input_size": p["d"], "output_size": p["d"], "vocab_size": None}

    def extra_info(self, p: Params) -> dict[str, Any]:
        return {"d": p["d"], "s": p["s"], "horizon": p["horizon"], "prompt_len": p["s"], "task_id": list(p["task_id"]),
                "input_mode": p["input_mode"]}

    def make_constants(self, p: Params, rng: np.random.Generator) -> dict[str, Any]:
        d, s = p["d"], p["s"]
        lags, sources, signs = task_selection(p["task_id"], d, s)
        return {"F": task_operator_np(p["task_id"], d, s), "lags": lags, "sources": sources, "signs": signs,
                "cycles": cycle_structure(p["task_id"], d, s)}

    def draw(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        return {"x": (rng.integers(0, 2, size=(n, p["s"], p["d"]), dtype=np.int8) * 2 - 1).astype(np.int8)}

    def simulate(self, p: Params, consts: Mapping[str, Any], draws: Columns) -> Columns:
        d, s, H = p["d"], p["s"], p["horizon"]
        x = draws["x"]
        n = x.shape[0]
        seq = np.zeros((n, s + H, d), dtype=np.int8)
        seq[:, :s] = x
        lags, sources, signs = consts["lags"], consts["sources"], consts["signs"].astype(np.int8)
        for t in range(s, s + H):
            seq[:, t] = signs * seq[:, t - lags, sources]
        targets = seq.astype(np.float32)
        targets[:, :s] = 0.0
        inputs = np.zeros((n, s + H, d), dtype=np.float32)
        if p["input_mode"] == "zeros":
            inputs[:, :s] = x
        else:
            inputs[:, 1:] = seq[:, :-1]
        mask = np.zeros((n, s + H), dtype=np.float32)
        mask[:, s:] = 1.0
        return {"inputs": inputs, "targets": targets, "loss_mask": mask}
