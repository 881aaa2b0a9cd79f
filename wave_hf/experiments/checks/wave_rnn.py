"""Section 7: the reduced Wave-RNN comparison (Keller et al. 2024): Wave-RNN vs iRNN (and the LBC) on copy and
adding, against the orderings of the Wave-RNN paper's Tables 1 and 4."""

from __future__ import annotations

from pathlib import Path

from ..formatting import fmt
from ..records import Row, RunRecord, SectionResult
from ..references import References
from ..settings import Settings
from .common import finished, first_step

__all__ = ["section_wave_rnn"]

_KINDS = ("wrnn", "irnn", "lbc")


def _copy_rows(st: Settings, refs: References, runs: dict[str, RunRecord], curves: dict) -> SectionResult:
    result = SectionResult()
    for delay in st.copy_delays:
        got = {}
        for kind in _KINDS:
            done = finished(runs, f"copy{delay}_{kind}", result.findings)
            if done is None:
                continue
            res, ev = done
            curves[f"copy T={delay} {kind}"] = ([r["step"] for r in ev], [max(r["loss"], 1e-12) for r in ev])
            got[kind] = (float(res.test_metrics["loss"]), float(res.test_metrics["token_accuracy"]),
                         first_step(ev, "token_accuracy", 0.99), res.steps)
        ref = refs.wrnn_copy.get(delay, {})
        text = "; ".join(f"{k}: CE {fmt(v[0])}, acc {fmt(v[1], 3)}, 0.99 at {v[2] if v[2] is not None else '-'}"
                         for k, v in got.items())
        ok = got["wrnn"][0] < got["irnn"][0] if "wrnn" in got and "irnn" in got else None
        result.rows.append(Row(
            "7", f"copy, delay T={delay}: test cross-entropy (the paper's 'MSE'), token accuracy, steps to 0.99",
            f"wRNN {fmt(ref.get('wrnn'))} vs iRNN {fmt(ref.get('irnn'))} (Table 4, 60k steps)", text, ok,
            "wRNN loss < iRNN loss (ordering)", trained=True, values={k: list(v) for k, v in got.items()},
        ))
    return result


def _adding_rows(st: Settings, refs: References, runs: dict[str, RunRecord], curves: dict) -> SectionResult:
    result = SectionResult()
    for length in st.adding_lengths:
        got = {}
        for kind in _KINDS:
            done = finished(runs, f"adding{length}_{kind}", result.findings)
            if done is None:
                continue
            res, ev = done
            curves[f"adding T={length} {kind}"] = ([r["step"] for r in ev], [max(r["mse"], 1e-12) for r in ev])
            got[kind] = (float(res.test_metrics["mse"]), first_step(ev, "mse", 5e-2, higher=False), res.steps)
        ref = refs.wrnn_adding.get(length, {})
        text = "; ".join(f"{k}: MSE {fmt(v[0])}, solved at {v[1] if v[1] is not None else f'> {v[2]}'}"
                         for k, v in got.items())
        reftext = ", ".join(f"{k} {v[0]} iters / {fmt(v[1])}" for k, v in ref.items()) or "-"
        ok = None
        if "wrnn" in got and "irnn" in got:
            w, i = got["wrnn"][1], got["irnn"][1]
            ok = w is not None and (i is None or w <= i)
        result.rows.append(Row(
            "7", f"adding, T={length}: test MSE, iterations to MSE <= 5e-2", f"{reftext} (Table 1)", text, ok,
            "wRNN solves no later than iRNN", trained=True, values={k: list(v) for k, v in got.items()},
        ))
    return result


def section_wave_rnn(st: Settings, refs: References, runs: dict[str, RunRecord], out: Path) -> SectionResult:
    """The rows of section 7; draws ``learning_curves_wrnn.png`` into ``out``."""
    from wave_hf.analysis.plots import plot_learning_curves

    curves: dict = {}
    result = _copy_rows(st, refs, runs, curves)
    result += _adding_rows(st, refs, runs, curves)
    if curves:
        plot_learning_curves(curves, out / "learning_curves_wrnn.png", ylabel="test loss",
                             title="Wave-RNN comparison (reduced)")
    return result
