"""Wave scan core: z_t = u_t + sum_{k=1..S} a_k z_{t-k} (the linear-boundary traveling-wave recurrence).

``wave_scan`` (training / prefill) and ``wave_step`` (decoding) are the public ops, ``wave_scan_fir`` the scan with
its FIR readout y_t = sum_j f_j z_{t-j}; ``wave_scan_reference``, ``wave_step_reference`` and
``wave_scan_fir_reference`` are the plain definitions the fast backends are tested against; ``fft_causal_conv`` is the
pure-shift (H3 FlashConv) baseline of the benchmark. ``decay_memory`` / ``decay_memory_step`` (reference:
``decay_memory_reference``) are the decaying outer-product memory of the LBC mixer's ``gating="qkv"``.
``wave_scan``, ``wave_scan_fir`` and ``decay_memory`` take the document starts of packed rows (``reset`` or
``cu_seqlens``). ``compute_dtype`` is the one dtype rule of the ops.
"""

from .fft_conv import fft_causal_conv, fft_fir_readout
from .memory import decay_memory, decay_memory_reference, decay_memory_step
from .reference import fir_readout_reference, wave_scan_fir_reference, wave_scan_reference, wave_step_reference
from .scan import BACKENDS, wave_scan, wave_scan_fir, wave_step
from .validation import compute_dtype

__all__ = [
    "BACKENDS",
    "compute_dtype",
    "decay_memory",
    "decay_memory_reference",
    "decay_memory_step",
    "fft_causal_conv",
    "fft_fir_readout",
    "fir_readout_reference",
    "wave_scan",
    "wave_scan_fir",
    "wave_scan_fir_reference",
    "wave_scan_reference",
    "wave_step",
    "wave_step_reference",
]
