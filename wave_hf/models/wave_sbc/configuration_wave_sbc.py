"""Configuration of the SBC wave model (``model_type = "wave_sbc"``: the paper's self-attention boundary condition).
Torch-free: the choices it checks come from ``wave_hf.layers.options``."""

from __future__ import annotations

from typing import ClassVar

from wave_hf.layers.options import ACTIVATIONS, POSITION_ENCODINGS
from wave_hf.models.configuration_utils import WaveBaseConfig, check_bool, check_choice, check_float, check_int

__all__ = ["SUBSTRATE_MODES", "WaveSBCConfig"]

SUBSTRATE_MODES = ("window", "stream")


class WaveSBCConfig(WaveBaseConfig):
    """An attention-only decoder whose context window is the wave substrate of ``history_length`` columns.

    Args (besides those of ``WaveBaseConfig``):
        num_heads: heads H per layer (``num_attention_heads``, its name before, is still accepted and read).
        head_dim: size per head; None means ``hidden_size // num_heads`` (which must then divide).
        history_length: S, the substrate width: every query sees the S newest columns, itself included.
        substrate_mode: ``"window"``: the exact TWM-SBC, every layer sees only the inputs t-S+1 .. t (each position
            runs the whole stack on its own window; the receptive field does not grow with depth). ``"stream"``: the
            sliding-window transformer, each layer attends to its own last S keys (receptive field L*(S-1)+1).
        position_encoding: ``"age_bias"`` (learned per-head bias over the age 0..S-1 of a column, initialised to
            ALiBi), ``"alibi"`` (the fixed ALiBi bias -m_h * age) or ``"none"``. Relative: it depends only on the age.
        attention_scale: multiplier of the attention logits; None means 1/sqrt(head_dim).
        use_mlp: add a gated MLP after each attention (default False: attention-only).
        intermediate_size: MLP width; None means 4 * hidden_size.
        hidden_act: MLP activation (a ``transformers.activations.ACT2FN`` name).
        use_norm: pre-norm RMSNorm before each attention/MLP and after the last block.
        residual: residual connections around attention/MLP. With ``use_norm=False, residual=False,
            position_encoding="none", attention_scale=1.0`` and one layer, the model is the bare SBC equation.
        rms_norm_eps: RMSNorm epsilon.
        window_chunk_size: window mode only: process at most this many windows at once (bounds the activation
            memory of long inputs at inference); None processes all at once.
    """

    model_type: ClassVar[str] = "wave_sbc"
    attribute_map: ClassVar[dict[str, str]] = {"num_attention_heads": "num_heads"}

    num_heads: int = 4
    head_dim: int | None = None
    history_length: int = 16
    substrate_mode: str = "window"
    position_encoding: str = "age_bias"
    attention_scale: float | None = None
    use_mlp: bool = False
    intermediate_size: int | None = None
    hidden_act: str = "silu"
    use_norm: bool = True
    residual: bool = True
    rms_norm_eps: float = 1e-6
    window_chunk_size: int | None = None

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        check_int(name, "num_heads", self.num_heads)
        check_int(name, "head_dim", self.head_dim, optional=True)
        if self.head_dim is None and self.hidden_size % self.num_heads != 0:
            raise ValueError(
                f"{name}: `hidden_size` ({self.hidden_size}) must be divisible by `num_heads` ({self.num_heads}) "
                "unless `head_dim` is given"
            )
        check_int(name, "history_length", self.history_length)
        check_choice(name, "substrate_mode", self.substrate_mode, SUBSTRATE_MODES)
        check_choice(name, "position_encoding", self.position_encoding, POSITION_ENCODINGS)
        check_float(name, "attention_scale", self.attention_scale, optional=True)
        for field in ("use_mlp", "use_norm", "residual", "tie_word_embeddings"):
            check_bool(name, field, getattr(self, field))
        check_int(name, "intermediate_size", self.intermediate_size, optional=True)
        check_choice(name, "hidden_act", self.hidden_act, ACTIVATIONS)
        check_float(name, "rms_norm_eps", self.rms_norm_eps)
        check_int(name, "window_chunk_size", self.window_chunk_size, optional=True)

    @property
    def attention_head_dim(self) -> int:
        """Size per head (``head_dim`` or ``hidden_size // num_heads``)."""
        return self.head_dim if self.head_dim is not None else self.hidden_size // self.num_heads

    @property
    def mlp_size(self) -> int:
        return self.intermediate_size if self.intermediate_size is not None else 4 * self.hidden_size

    def cache_state_names(self) -> list[tuple[str, ...]]:
        """window: one cache layer with the substrate of input columns; stream: per layer the key/value substrates.

        ``window`` (B, S, hidden) / ``key``, ``value`` (B, H, S, head_dim): the S newest real columns, right-aligned
        (newest last). ``*_valid`` (B, S) bool: False for columns not filled yet.
        """
        if self.substrate_mode == "window":
            return [("window", "window_valid")]
        return [("key", "value", "key_valid")] * self.num_hidden_layers
