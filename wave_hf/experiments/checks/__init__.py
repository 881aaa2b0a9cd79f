"""The checks of the reproduction, one module per report section: each returns a ``SectionResult`` (rows with the
paper's value, ours and the computed verdict, plus findings) and draws its figures.

- ``exactness`` (1) and ``spectra`` (2): no training;
- ``elman`` (3-5): the Elman RNN with the paper's protocol, its wave basis and gradient curves;
- ``compare_tasks`` (6): LBC vs Elman vs LSTM on T1..T4;
- ``load_mode`` (6): the additive LBC's error floor on T2..T4, and the LBC in load mode (Theorem 3.1) on T1..T4;
- ``wave_rnn`` (7): the reduced Wave-RNN comparison;
- ``h3`` (8): H3's synthetic language tasks;
- ``identities`` (9): the model classes and the basis recovery against constructions with a known answer;
- ``main_job`` (10): the main job's recipe over several seeds, and its seed table;
- ``robustness`` (11): waves and learning speed, the robustness grid, the raw substrate's diagonal bands;
- ``mqar`` (12): zoology's MQAR sweep over sequence length and width with section 8's models.

Sections 1, 2 and 9 are construction checks (``records.CONSTRUCTION``: unit checks of the code, listed apart from the
reproduction evidence).
"""

from .compare_tasks import section_compare_tasks
from .elman import section_elman
from .exactness import section_exactness
from .h3 import section_h3
from .identities import section_identities
from .load_mode import section_load_mode
from .main_job import section_main_job
from .mqar import section_mqar
from .robustness import section_robustness
from .spectra import section_phi_spectra, theory_phis
from .wave_rnn import section_wave_rnn

__all__ = [
    "section_compare_tasks",
    "section_elman",
    "section_exactness",
    "section_h3",
    "section_identities",
    "section_load_mode",
    "section_main_job",
    "section_mqar",
    "section_phi_spectra",
    "section_robustness",
    "section_wave_rnn",
    "theory_phis",
]
