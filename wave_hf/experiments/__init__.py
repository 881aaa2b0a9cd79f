"""The paper reproduction: every claim of Karuvally, Sejnowski, Siegelmann, "Hidden Traveling Waves bind Working
Memory Variables in Recurrent Neural Networks" (ICML 2024) that wave_hf can check, run with wave_hf's own code.

    python -m wave_hf.experiments --out reports/paper            # full run (< 60 min on 2 cores)
    python -m wave_hf.experiments --quick --out /tmp/paper_quick  # reduced run (what the test suite runs)
    wave_hf.experiments.main(["--quick", "--out", "/tmp/paper_quick"])

Writes ``OUT/report.md`` (table "quantity | paper or companion-code value | ours | pass" of the reproduction evidence,
the same table for the construction checks, criteria, the main job's seed table, settings, runs, figures, findings),
``OUT/report.json`` (the same rows and tables as data), the figures (PNG, one GIF) and the training runs
(``OUT/runs``). Every "pass" is computed from the measured value and the criterion printed next to it.

Report sections: 1. exactness without training (Theorem 3.1, generalised Fibonacci, T1..T4 through the TWM with
"load" / "additive" input and through the LBC model class); 2. spectra of Phi; 3. Elman RNNs trained with the paper's
protocol: accuracy at horizon 200, eigenvalue count, spectral error; 4. the basis-changed W_hh and the "315" wave;
5. gradient curves during training; 6. LBC wave-RNN vs Elman vs LSTM; 7. reduced Wave-RNN comparison (copy, adding);
8. H3's synthetic tasks; 9. the model classes against the paper's equations written out by hand (the SBC as the loop
of an attention-only transformer over its substrate, the LBC as a shift plus a rank-d boundary, boundary="none" as
H3's shift SSM) and the basis recovery on a known embedding; 10. the main job (README command 1: the shipped recipe
t1_lbc, one 8 x 8 substrate on T1) over several seeds, with its seed table and its deviations from the paper's
protocol. Sections 1, 2 and 9 are construction checks (no
training, known answers): report.md lists them in their own table and report.json marks them ``"kind":
"construction"``.

Layout (one job per module):

- ``data/settings.yaml`` (``settings``): run sizes of the ``quick`` and ``full`` modes;
- ``data/references.yaml`` (``references``): the values each check compares against;
- ``jobs/*.yaml`` (``jobs``): the training runs, as shipped ``wave_hf.training`` run configs plus overrides;
- ``runner``: trains the jobs in worker processes (``wave_hf.training.train``), or reuses finished runs;
- ``checks``: one module per report section, returning rows, tables and findings (``records``);
- ``report`` (with ``formatting``): report.md and report.json; ``pipeline``: all of it in order; ``cli``: ``main``.
"""

from .cli import main
from .pipeline import reproduce
from .records import Row, RunRecord, SectionResult
from .references import References, references
from .settings import Settings, settings_for

__all__ = [
    "References",
    "Row",
    "RunRecord",
    "SectionResult",
    "Settings",
    "main",
    "references",
    "reproduce",
    "settings_for",
]
