"""Configurations of the recurrent baselines: Elman RNN, LSTM, Keller's Wave-RNN (wRNN) and iRNN. Torch-free.

All four are ``WaveBaseConfig`` subclasses (unknown keys are rejected, ``validate()`` names bad fields). Shared
meaning: ``hidden_size`` = n, the recurrent width (for the wRNN: all channels together, c * m); ``input_size`` = d of
real-valued inputs, mapped to the hidden space by the prediction head's bias-free ``value_in`` (W_uh); token models
use an embedding instead (``vocab_size`` set). ``num_hidden_layers`` stacks recurrent layers (layer 0 takes the
head's input map directly; deeper layers have their own input weights).
"""

from __future__ import annotations

from typing import ClassVar

from wave_hf.models.configuration_utils import WaveBaseConfig, check_bool, check_choice, check_float, check_int

__all__ = ["ElmanRNNConfig", "IRNNConfig", "KellerWaveRNNConfig", "LSTMConfig", "RecurrentBaselineConfig"]


class RecurrentBaselineConfig(WaveBaseConfig):
    """Fields shared by the recurrent baselines (defaults: the paper's Elman setting n = 128, d = 8, one layer)."""

    model_type: ClassVar[str] = ""

    vocab_size: int | None = None
    hidden_size: int = 128
    num_hidden_layers: int = 1

    def cache_state_names(self) -> list[tuple[str, ...]]:
        return [("h",)] * self.num_hidden_layers


class ElmanRNNConfig(RecurrentBaselineConfig):
    """Elman RNN ``h_t = act(W_hh h_{t-1} + W_uh x_t [+ b])``, ``y_t = W_hy h_t`` (the paper's RNN baseline: tanh,
    no bias, so that the origin is a fixed point). Initialisation as torch's ``nn.RNN`` / ``nn.Linear``: every weight
    U(-1/sqrt(fan), 1/sqrt(fan)) with fan = n for W_uh and W_hh (``nn.RNN``) and for W_hy (``nn.Linear(n, d)``).

    Args:
        nonlinearity: "tanh" (paper) or "relu".
        use_bias: add a recurrent bias b (False in the paper).
        recurrent_init: "uniform" (torch's default, above) or "wave": W_hh = Q Phi_0 Q^T, the open-boundary shift
            Phi_0 of a substrate of ``wave_columns`` columns (hidden_size / wave_columns units each; the paper's Phi
            with boundary f = 0) hidden by a random orthogonal Q: the wave structure without the task's boundary.
        wave_columns: columns of that substrate (must divide hidden_size).
    """

    model_type: ClassVar[str] = "elman_rnn"

    nonlinearity: str = "tanh"
    use_bias: bool = False
    recurrent_init: str = "uniform"
    wave_columns: int = 8

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        check_choice(name, "nonlinearity", self.nonlinearity, ("tanh", "relu"))
        check_bool(name, "use_bias", self.use_bias)
        check_choice(name, "recurrent_init", self.recurrent_init, ("uniform", "wave"))
        check_int(name, "wave_columns", self.wave_columns)
        if self.recurrent_init == "wave" and self.hidden_size % self.wave_columns:
            raise ValueError(f"{name}: `wave_columns` ({self.wave_columns}) must divide `hidden_size` "
                             f"({self.hidden_size}) for recurrent_init='wave'")


class IRNNConfig(RecurrentBaselineConfig):
    """iRNN (Le et al. 2015; the baseline of Keller et al. 2024's Wave-RNN paper): ReLU, W_hh initialised to the
    identity and bias to 0, input weights N(0, ``input_init_std``^2), everything trainable.

    Args:
        input_init_std: std of the input weights at initialisation (0.001 in the Wave-RNN code).
    """

    model_type: ClassVar[str] = "irnn"

    hidden_size: int = 100
    input_init_std: float = 1e-3

    def validate(self) -> None:
        super().validate()
        check_float(type(self).__name__, "input_init_std", self.input_init_std)


class KellerWaveRNNConfig(RecurrentBaselineConfig):
    """Wave-RNN of Keller et al. 2024 (``model_type = "wrnn"``): ``h_{t+1} = ReLU(u * h_t + V x_t + b)`` where
    ``u * h`` is a circular convolution over ``num_channels`` channels of ``hidden_size / num_channels`` units
    (kernel (c, c, f)).

    Args:
        num_channels: c; ``hidden_size`` must be a multiple of it.
        kernel_size: f (odd), 3 in the paper.
        recurrent_init: "shift" (the wave: the kernel is the one-unit circular shift, the code's ``init='fwd'``),
            "identity" (``init='eye'``) or "random" (torch's Conv1d default).
        input_init: "solo" (V = 0 except weight 1 from every input to unit 0 of each channel, the code's
            ``solo_init``) or "normal" (N(0, ``input_init_std``^2)).
        input_init_std: see ``input_init``.
    """

    model_type: ClassVar[str] = "wrnn"

    hidden_size: int = 96
    num_channels: int = 6
    kernel_size: int = 3
    recurrent_init: str = "shift"
    input_init: str = "solo"
    input_init_std: float = 1e-3

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        check_int(name, "num_channels", self.num_channels)
        check_int(name, "kernel_size", self.kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"{name}: `kernel_size` must be odd; got {self.kernel_size}")
        if self.hidden_size % self.num_channels:
            raise ValueError(
                f"{name}: `hidden_size` ({self.hidden_size}) must be a multiple of `num_channels` ({self.num_channels})"
            )
        check_choice(name, "recurrent_init", self.recurrent_init, ("shift", "identity", "random"))
        check_choice(name, "input_init", self.input_init, ("solo", "normal"))
        check_float(name, "input_init_std", self.input_init_std)

    @property
    def units_per_channel(self) -> int:
        return self.hidden_size // self.num_channels


class LSTMConfig(RecurrentBaselineConfig):
    """LSTM (torch's gate order and initialisation U(-1/sqrt(n), 1/sqrt(n))). The head's ``value_in`` maps x_t to
    R^n; each layer then has its own input weights (4n, n).

    Args:
        use_bias: gate biases (torch default: True).
    """

    model_type: ClassVar[str] = "lstm_rnn"

    use_bias: bool = True

    def validate(self) -> None:
        super().validate()
        check_bool(type(self).__name__, "use_bias", self.use_bias)

    def cache_state_names(self) -> list[tuple[str, ...]]:
        return [("h", "c")] * self.num_hidden_layers
