"""Section 8: H3's synthetic language tasks (Fu et al. 2023, Table 2): token accuracy of the gated LBC, the shift SSM,
the SBC and Llama against the table's H3 and attention rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..formatting import fmt
from ..records import Row, RunRecord, SectionResult
from ..references import References
from ..settings import Settings
from .common import finished

__all__ = ["section_h3"]

# our model -> (label, its counterpart in H3's Table 2)
_MODELS = {
    "lbc_h3": ("WaveLBC (qkv, H3-like)", "H3"),
    "lbc_shift": ("WaveLBC boundary=none (shift SSM)", None),
    "sbc": ("WaveSBC", "Attention"),
    "llama": ("Llama (attention)", "Attention"),
}


def section_h3(st: Settings, refs: References, runs: dict[str, RunRecord], jobs: dict[str, dict[str, Any]],
               out: Path) -> SectionResult:
    """The rows of section 8; draws ``learning_curves_h3.png`` into ``out``."""
    from wave_hf.analysis.plots import plot_learning_curves

    result, curves, missed = SectionResult(), {}, []
    for task in st.h3_steps:
        for kind, (label, ref_name) in _MODELS.items():
            done = finished(runs, f"{task}_{kind}", result.findings)
            if done is None:
                continue
            res, ev = done
            curves[f"{task} {kind}"] = ([r["step"] for r in ev], [r["token_accuracy"] for r in ev])
            acc = 100 * float(res.test_metrics["token_accuracy"])
            ref = refs.h3_table[task].get(ref_name) if ref_name else None
            result.rows.append(Row(
                "8", f"{task}: {label}, token accuracy (%) after {res.steps} steps",
                f"{ref_name} {ref}" if ref is not None else "no counterpart in Table 2", fmt(acc, 4),
                None if ref is None else acc >= ref - 5.0, "within 5 points of the table", trained=True,
            ))
            if ref is not None and acc < ref - 5.0:
                missed.append(f"{task} / {label}: {acc:.1f}%")
    if missed:
        optim = {k: v for k, v in next(jobs[n]["optim"] for n in jobs if n.endswith("_llama")).items()
                 if k != "warmup_steps"}
        result.findings.append(
            "H3 synthetic tasks, below the table: " + "; ".join(missed) + f". What was tried: 2 layers, hidden "
            f"{st.h3_hidden}, one recipe for all four models (optimiser settings {optim}, warmup 10% of the steps), "
            f"{', '.join(f'{k} {v} steps' for k, v in st.h3_steps.items())}; data: the dataset defaults "
            "(vocabulary 20, 32 input tokens), not H3's settings (unknown)."
        )
    if curves:
        plot_learning_curves(curves, out / "learning_curves_h3.png", ylabel="token accuracy",
                             title="H3 synthetic tasks (2 layers)", logy=False)
    return result
