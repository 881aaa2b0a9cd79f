"""Configuration of the LBC wave-RNN (``model_type = "wave_lbc"``), and of its hybrid with SBC attention layers
(``attention_layers``). Torch-free: the choices it checks come from ``wave_hf.layers.options``."""

from __future__ import annotations

from typing import ClassVar

from wave_hf.layers.options import (
    ACTIVATIONS,
    BOUNDARY_FORMS,
    GATINGS,
    MIN_MEMORY_HALFLIFE,
    POSITION_ENCODINGS,
    READOUTS,
)
from wave_hf.models.configuration_utils import WaveBaseConfig, check_bool, check_choice, check_float, check_int

__all__ = ["WaveLBCConfig"]

_LBC_STATE = ("substrate",)
_GATED_LBC_STATE = ("substrate", "memory")
_ATTENTION_STATE = ("key", "value", "key_valid")  # wave_hf.layers.sbc.STREAM_STATE_NAMES (checked by the tests)


class WaveLBCConfig(WaveBaseConfig):
    """A stack of LBC wave blocks (``wave_hf.layers.lbc.WaveLBCMixer``), H3-style, optionally with a few SBC
    attention layers (the hybrid: the paper's two boundary conditions in one model, as H3's best model kept two
    attention layers among its SSM layers).

    Each block is ``h = h + mixer(norm(h))`` followed, with ``use_mlp``, by ``h = h + mlp(norm(h))``; a final norm
    closes the stack. The mixer is the LBC wave mixer, or at the layers listed in ``attention_layers`` the SBC
    boundary in its stream form (``wave_hf.layers.sbc.SBCStreamMixer``: softmax attention over the layer's own
    ``attention_window`` newest positions, as ``WaveSBCConfig(substrate_mode="stream")``); norms, residuals and the MLP
    are the same in both kinds of block. Fields beyond ``WaveBaseConfig``:

    Args:
        num_heads: H, independent wave substrates per layer (``num_attention_heads`` is accepted as another name for
            it, as in ``WaveSBCConfig``).
        head_dim: D, waves per head (the substrate is S x D per head).
        history_length: S, columns of the substrate (the history the boundary reads).
        boundary: "none" (pure shift, H3's shift SSM), "diagonal" (per-wave AR(S) boundary) or "dense" (the boundary
            mixes the D waves of a head).
        readout: "boundary" (the start column only, as in the paper's figure) or "fir" (a learned filter over all S
            columns, H3's shift-SSM C).
        gating: "none" (``W_out readout(wave(W_in x))``) or "qkv" (H3's ``q * SSM_diag(wave(k) * v)``, with a decaying
            per-head memory of outer products).
        mixer_projections: the mixer's input/output projections (``W_in``/``W_out``, or ``W_q, W_k, W_v``/``W_O``).
            False feeds the residual stream straight into the H x D waves and reads them back as is (needs
            ``gating="none"`` and ``hidden_size == num_heads * head_dim``): the paper-faithful model, whose only maps
            are then the write ``B`` (``value_in``), Phi and the read ``C`` (``value_out``).
        use_mlp: add a feed-forward sub-block after each mixer.
        intermediate_size: MLP width; None means ``4 * hidden_size``.
        mlp_gated, hidden_act: gated (SwiGLU-style) or plain MLP, and its activation.
        use_norm: RMSNorm before each sub-block and at the end (False: none at all, so a one-layer model stays linear).
        residual: add the sub-block outputs to their input (False: ``h = mixer(h)``, the paper's single RNN layer).
        rms_norm_eps: epsilon of the RMSNorms.
        boundary_init_scale: r in [0, 1). 0 starts every boundary at the pure shift; r > 0 at a random boundary with
            ``sum_k ||a_k||_2 = r`` (spectral radius of Phi <= r^(1/S) < 1). See ``wave_hf.layers.lbc``.
        boundary_max_norm: None (the paper's unconstrained boundary, which T1-T4 need) or c in (0, 1]: the wave uses
            the boundary rescaled to a norm of at most c, so Phi's spectral radius stays at most c^(1/S) <= 1
            throughout training (for language models over long rows). See ``wave_hf.layers.lbc``.
        memory_halflife_min, memory_halflife_max: initial half-lives (in tokens) of the ``gating="qkv"`` memory,
            spread log-uniformly over the heads.
        value_init: start of the prediction head's write ``B`` (``value_in``) and read ``C`` (``value_out``):
            "normal" (N(0, initializer_range)) or "identity" (B = C = I, the write and read of the paper's
            Theorem 3.1 construction: x_t is loaded into the start column and read back from it; needs
            input_size == hidden_size == output_size).
        attention_layers: indices (0-based, unique, each in [0, num_hidden_layers)) of the layers whose mixer is SBC
            stream attention instead of the LBC wave; None or [] for none (the plain LBC stack).
        attention_heads: heads of the attention layers; None means ``num_heads``.
        attention_head_dim: size per attention head; None means ``hidden_size // attention_heads`` (which must then
            divide).
        attention_window: S of the attention layers (each position attends to its layer's S newest positions,
            itself included); None means ``history_length``.
        attention_position_encoding: the attention's bias over the age of a column, one of
            ``wave_hf.layers.options.POSITION_ENCODINGS`` (default "age_bias", as ``WaveSBCConfig``).
    """

    model_type: ClassVar[str] = "wave_lbc"
    attribute_map: ClassVar[dict[str, str]] = {"num_attention_heads": "num_heads"}

    num_heads: int = 4
    head_dim: int = 16
    history_length: int = 16
    boundary: str = "diagonal"
    readout: str = "fir"
    gating: str = "qkv"
    mixer_projections: bool = True
    use_mlp: bool = True
    intermediate_size: int | None = None
    mlp_gated: bool = True
    hidden_act: str = "silu"
    use_norm: bool = True
    residual: bool = True
    rms_norm_eps: float = 1e-6
    boundary_init_scale: float = 0.0
    boundary_max_norm: float | None = None
    memory_halflife_min: float = 8.0
    memory_halflife_max: float = 512.0
    value_init: str = "normal"
    attention_layers: list[int] | None = None
    attention_heads: int | None = None
    attention_head_dim: int | None = None
    attention_window: int | None = None
    attention_position_encoding: str = "age_bias"

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        check_int(name, "num_heads", self.num_heads)
        check_int(name, "head_dim", self.head_dim)
        check_int(name, "history_length", self.history_length)
        check_int(name, "intermediate_size", self.intermediate_size, optional=True)
        check_choice(name, "boundary", self.boundary, BOUNDARY_FORMS)
        check_choice(name, "readout", self.readout, READOUTS)
        check_choice(name, "gating", self.gating, GATINGS)
        for field in ("mixer_projections", "use_mlp", "mlp_gated", "use_norm", "residual"):
            check_bool(name, field, getattr(self, field))
        if not self.mixer_projections:
            inner = self.num_heads * self.head_dim
            if self.gating != "none" or self.hidden_size != inner:
                raise ValueError(
                    f"{name}: `mixer_projections=False` needs gating='none' and hidden_size == num_heads * head_dim "
                    f"({inner}); got gating={self.gating!r}, hidden_size={self.hidden_size}"
                )
        check_choice(name, "hidden_act", self.hidden_act, ACTIVATIONS)
        check_float(name, "rms_norm_eps", self.rms_norm_eps)
        check_float(name, "boundary_init_scale", self.boundary_init_scale, low=0.0, high=1.0, low_open=False)
        check_float(name, "boundary_max_norm", self.boundary_max_norm, optional=True)
        if self.boundary_max_norm is not None and self.boundary_max_norm > 1:
            raise ValueError(f"{name}: `boundary_max_norm` must be None or in (0, 1]; got {self.boundary_max_norm}")
        # the gating memory's decay is kept >= exp(MEMORY_LOG_DECAY_MIN): a half-life >= ln 2 / 4 tokens
        check_float(name, "memory_halflife_min", self.memory_halflife_min, low=MIN_MEMORY_HALFLIFE, low_open=False)
        halflife_min = self.memory_halflife_min if isinstance(self.memory_halflife_min, (int, float)) else 0.0
        check_float(name, "memory_halflife_max", self.memory_halflife_max, low=halflife_min, low_open=False)
        check_choice(name, "value_init", self.value_init, ("normal", "identity"))
        sizes = (self.input_size, self.hidden_size, self.prediction_size)
        if self.value_init == "identity" and len(set(sizes)) != 1:
            raise ValueError(
                f"{name}: `value_init='identity'` needs input_size == hidden_size == output_size; got {sizes}"
            )
        self._validate_attention(name)

    def _validate_attention(self, name: str) -> None:
        layers = self.attention_layers
        if layers is not None:
            if not isinstance(layers, (list, tuple)) or any(isinstance(i, bool) or not isinstance(i, int)
                                                            for i in layers):
                raise ValueError(f"{name}: `attention_layers` must be a list of layer indices (int) or None; "
                                 f"got {layers!r}")
            outside = [i for i in layers if not 0 <= i < self.num_hidden_layers]
            if outside:
                raise ValueError(f"{name}: `attention_layers` must lie in [0, num_hidden_layers="
                                 f"{self.num_hidden_layers}); got {outside} in {list(layers)}")
            repeated = sorted({i for i in layers if list(layers).count(i) > 1})
            if repeated:
                raise ValueError(f"{name}: `attention_layers` must be unique; {repeated} repeated in {list(layers)}")
            self.attention_layers = list(layers)  # a tuple becomes the list that config.json holds
        check_int(name, "attention_heads", self.attention_heads, optional=True)
        check_int(name, "attention_head_dim", self.attention_head_dim, optional=True)
        check_int(name, "attention_window", self.attention_window, optional=True)
        check_choice(name, "attention_position_encoding", self.attention_position_encoding, POSITION_ENCODINGS)
        heads = self.attention_heads or self.num_heads
        if layers and self.attention_head_dim is None and self.hidden_size % heads != 0:
            raise ValueError(
                f"{name}: `hidden_size` ({self.hidden_size}) must be divisible by the attention heads ({heads}: "
                "`attention_heads`, or `num_heads` when it is None) unless `attention_head_dim` is given"
            )

    @property
    def mlp_size(self) -> int:
        return self.intermediate_size if self.intermediate_size is not None else 4 * self.hidden_size

    def is_attention_layer(self, layer_idx: int) -> bool:
        """Whether layer ``layer_idx``'s mixer is SBC stream attention (``attention_layers``)."""
        return layer_idx in (self.attention_layers or ())

    @property
    def attention_kwargs(self) -> dict[str, int | str]:
        """The arguments of the attention layers' ``wave_hf.layers.sbc.SBCAttention``, defaults resolved:
        ``hidden_size``, ``num_heads``, ``head_dim``, ``window`` and ``position_encoding``."""
        heads = self.attention_heads or self.num_heads
        return {
            "hidden_size": self.hidden_size,
            "num_heads": heads,
            "head_dim": self.attention_head_dim or self.hidden_size // heads,
            "window": self.attention_window or self.history_length,
            "position_encoding": self.attention_position_encoding,
        }

    def cache_state_names(self) -> list[tuple[str, ...]]:
        """Per layer: the LBC substrate (and the gating memory), or for an attention layer its key/value substrate:
        ``key``, ``value`` (B, H, S, head_dim) and ``key_valid`` (B, S) bool, the S newest columns right-aligned."""
        lbc = _GATED_LBC_STATE if self.gating == "qkv" else _LBC_STATE
        return [_ATTENTION_STATE if self.is_attention_layer(i) else lbc for i in range(self.num_hidden_layers)]

