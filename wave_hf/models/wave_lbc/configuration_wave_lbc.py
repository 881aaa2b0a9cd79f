"""Configuration of the LBC wave-RNN (``model_type = "wave_lbc"``). Torch-free: the choices it checks come from
``wave_hf.layers.options``."""

from __future__ import annotations

from typing import ClassVar

from wave_hf.layers.options import ACTIVATIONS, BOUNDARY_FORMS, GATINGS, MIN_MEMORY_HALFLIFE, READOUTS
from wave_hf.models.configuration_utils import WaveBaseConfig, check_bool, check_choice, check_float, check_int

__all__ = ["WaveLBCConfig"]


class WaveLBCConfig(WaveBaseConfig):
    """A stack of LBC wave blocks (``wave_hf.layers.lbc.WaveLBCMixer``), H3-style.

    Each block is ``h = h + mixer(norm(h))`` followed, with ``use_mlp``, by ``h = h + mlp(norm(h))``; a final norm
    closes the stack. Fields beyond ``WaveBaseConfig``:

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
        memory_halflife_min, memory_halflife_max: initial half-lives (in tokens) of the ``gating="qkv"`` memory,
            spread log-uniformly over the heads.
        value_init: start of the prediction head's write ``B`` (``value_in``) and read ``C`` (``value_out``):
            "normal" (N(0, initializer_range)) or "identity" (B = C = I, the write and read of the paper's
            Theorem 3.1 construction: x_t is loaded into the start column and read back from it; needs
            input_size == hidden_size == output_size).
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
    memory_halflife_min: float = 8.0
    memory_halflife_max: float = 512.0
    value_init: str = "normal"

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

    @property
    def mlp_size(self) -> int:
        return self.intermediate_size if self.intermediate_size is not None else 4 * self.hidden_size

    def cache_state_names(self) -> list[tuple[str, ...]]:
        names = ("substrate", "memory") if self.gating == "qkv" else ("substrate",)
        return [names] * self.num_hidden_layers

