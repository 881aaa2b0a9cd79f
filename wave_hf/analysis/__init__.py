"""Analysis tools for the hidden-wave claims of the paper: Phi and its spectrum, the wave basis of a trained RNN,
waves in the hidden state, gradient propagation.

- ``operators``: the theory operator Phi (from a task operator, a boundary, or an LBC model's accessor).
- ``spectra``: eigenvalues, counts, the roots a task's cycles predict, and ``spectral_comparison`` (angles, radians;
  documented unequal-count rule).
- ``basis``: readout/input-grounded wave bases with cell pruning, the Krylov wave canonical form, ``Psi* W Psi``.
- ``waves``: hidden states in wave coordinates, the "315" stimulus, the one-column-per-step shift score.
- ``twm``: reference TWM simulators (Theorem 3.1; linear TWM with "load" or "additive" input).
- ``constructions``: the linear LBC model built from a known boundary, and its run from a loaded substrate; an RNN
  holding a known wave (``W_hh = P Phi P^+``).
- ``explicit_models``: the SBC as a loop over an explicit substrate, the LBC's shift + rank-d boundary, H3's shift SSM
  as an explicit convolution (checks of the model classes).
- ``gradients``: normalised ||dC/dx(i)|| against the distance i.
- ``probes``: operators and hidden trajectories of trained models.
- ``plots`` (imported on demand, needs matplotlib): spectra, heatmaps, wave frames and GIF, gradient and learning
  curves.
"""

from .basis import (
    KrylovBasis,
    WaveBasis,
    active_cells,
    grounded_bases,
    krylov_basis,
    recovery_error,
    structure_energy_fraction,
    structure_mask,
    structure_report,
    with_residual_components,
)
from .constructions import embedded_rnn, lbc_from_boundary, lbc_load_rollout
from .explicit_models import (
    boundary_rank,
    sbc_substrate_loop,
    sbc_substrate_rollout,
    shift_operator,
    shift_ssm_convolution,
)
from .gradients import gradient_propagation, state_gradient_propagation
from .operators import phi_from_boundary, phi_from_model, phi_from_task_operator, task_operator_from_phi
from .probes import hidden_trajectory, rnn_operators
from .spectra import (
    SpectralComparison,
    count_above,
    count_unit_modulus,
    cycle_roots,
    eigenvalues,
    spectral_comparison,
    unit_circle_angles,
)
from .twm import additive_floor, linear_twm, twm_rollout
from .waves import bitmap_315, wave_frames, wave_shift_score

__all__ = [
    "KrylovBasis",
    "SpectralComparison",
    "WaveBasis",
    "additive_floor",
    "active_cells",
    "boundary_rank",
    "embedded_rnn",
    "bitmap_315",
    "count_above",
    "count_unit_modulus",
    "cycle_roots",
    "eigenvalues",
    "gradient_propagation",
    "grounded_bases",
    "hidden_trajectory",
    "krylov_basis",
    "lbc_from_boundary",
    "lbc_load_rollout",
    "linear_twm",
    "phi_from_boundary",
    "phi_from_model",
    "phi_from_task_operator",
    "recovery_error",
    "rnn_operators",
    "sbc_substrate_loop",
    "sbc_substrate_rollout",
    "shift_operator",
    "shift_ssm_convolution",
    "spectral_comparison",
    "state_gradient_propagation",
    "structure_energy_fraction",
    "structure_mask",
    "structure_report",
    "task_operator_from_phi",
    "twm_rollout",
    "unit_circle_angles",
    "wave_frames",
    "wave_shift_score",
    "with_residual_components",
]
