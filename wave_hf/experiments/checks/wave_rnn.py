"""Section 7: the reduced Wave-RNN comparison (Keller et al. 2024): Wave-RNN vs iRNN (and the LBC) on copy and
adding: the orderings of the Wave-RNN paper's Table 4 (copy) and the iteration counts of its Table 1 (adding)."""

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
        got, irnn_step_s = {}, 0.0
        for kind in _KINDS:
            done = finished(runs, f"adding{length}_{kind}", result.findings)
            if done is None:
                continue
            res, ev = done
            curves[f"adding T={length} {kind}"] = ([r["step"] for r in ev], [max(r["mse"], 1e-12) for r in ev])
            got[kind] = (float(res.test_metrics["mse"]), first_step(ev, "mse", 5e-2, higher=False), res.steps)
            if kind == "irnn":
                irnn_step_s = res.wall_time_s / max(1, res.steps)
        ref = refs.wrnn_adding.get(length, {})
        text = "; ".join(f"{k}: MSE {fmt(v[0])}, solved at {v[1] if v[1] is not None else f'> {v[2]}'}"
                         for k, v in got.items())
        reftext = ", ".join(f"{k} {v[0]} iters / {fmt(v[1])}" for k, v in ref.items()) or "-"
        ok = None
        if "wrnn" in got and "irnn" in got and ref:
            w, i = got["wrnn"][1], got["irnn"][1]
            w_ref, i_ref = _iterations(ref["wrnn"][0]), _iterations(ref["irnn"][0])
            # the iRNN is trained got["irnn"][2] steps, far fewer than Table 1's count: it is only required not to
            # solve the task much sooner than Table 1 says it does
            ok = w is not None and w <= 2 * w_ref and (i is None or i >= i_ref / 2)
            if i is None and got["irnn"][2] < i_ref:
                result.findings.append(
                    f"adding T={length}: the iRNN was trained {got['irnn'][2]} steps, not the {ref['irnn'][0]} "
                    f"iterations Table 1 says it needs (at its {irnn_step_s:.2f} s a step, evaluations included, that "
                    f"alone would take {i_ref * irnn_step_s / 60:.0f} minutes of the reproduction's budget); the row "
                    "checks only that it is unsolved within ours."
                )
        result.rows.append(Row(
            "7", f"adding, T={length}: test MSE, iterations to MSE <= 5e-2", f"{reftext} (Table 1)", text, ok,
            "wRNN solves within 2x Table 1's iterations; the iRNN does not solve before half of Table 1's",
            trained=True, values={k: list(v) for k, v in got.items()},
        ))
    return result


def _iterations(text: str) -> int:
    """Table 1's iteration counts as printed ("300", "1k", "14k")."""
    return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)


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
