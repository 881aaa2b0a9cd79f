"""The choices and limits of the layers, as plain values (no torch): the configurations validate against these and
the layers trust them.

Importing this module imports nothing of torch, so a configuration module can use it (transformers' rule:
configuration files do not import the modelling framework).
"""

from __future__ import annotations

import math

__all__ = [
    "ACTIVATIONS",
    "BOUNDARY_FORMS",
    "GATINGS",
    "MEMORY_LOG_DECAY_MIN",
    "MIN_MEMORY_HALFLIFE",
    "POSITION_ENCODINGS",
    "READOUTS",
]

# LBC mixer (wave_hf.layers.lbc)
BOUNDARY_FORMS = ("none", "diagonal", "dense")
"""Form of the boundary ``a``: the pure shift (H3's shift SSM), an AR(S) boundary per wave, or one mixing the waves."""
READOUTS = ("boundary", "fir")
"""What is read out of the substrate: the start column (the paper's figure), or a learned FIR over all S columns."""
GATINGS = ("none", "qkv")
"""Without gating the mixer is ``W_out readout(wave(W_in x))``; "qkv" adds H3's ``q * memory(readout(wave(k)) v)``."""

MEMORY_LOG_DECAY_MIN = -4.0
"""Lowest log-decay of the gating memory: the range its chunked computation is exact for. Equal to
``wave_hf.ops.memory.LOG_DECAY_MIN`` (checked by tests/layers/test_options.py); kept here as a plain number so that
the configuration can validate without importing torch."""
MIN_MEMORY_HALFLIFE = math.log(2) / -MEMORY_LOG_DECAY_MIN
"""Shortest half-life (tokens) of the gating memory, ln 2 / 4 ~ 0.17: a decay of at least exp(MEMORY_LOG_DECAY_MIN)."""

# SBC attention (wave_hf.layers.sbc)
POSITION_ENCODINGS = ("age_bias", "alibi", "none")
"""Bias on the attention logits over the age of a column: learned (ALiBi-initialised), fixed ALiBi, or none."""

# both (wave_hf.layers.common.MLP): the names of ``transformers.activations.ACT2FN``
ACTIVATIONS = (
    "gelu", "gelu_10", "gelu_accurate", "gelu_fast", "gelu_new", "gelu_python", "gelu_python_tanh",
    "gelu_pytorch_tanh", "hardswish", "laplace", "leaky_relu", "linear", "mish", "prelu", "quick_gelu", "relu",
    "relu2", "relu6", "sigmoid", "silu", "sqrtsoftplus", "swish", "tanh", "xielu",
)
"""Activation names the MLP accepts (each a key of ``transformers.activations.ACT2FN``; tests check it)."""
