"""save_pretrained -> from_pretrained for every registered wave_hf family and every head class: identical parameters,
buffers and outputs, a clean loading report, and the dtype round trip.

This guards the transformers 5.x pitfall where weights initialised outside the library's init hooks come back from
``from_pretrained`` randomly initialised while the loading report is clean: every weight is perturbed before saving,
so a weight that is re-initialised on load differs from the saved one. The families are read from the Auto registry
(every ``model_type`` registered by a wave_hf class), so a new family is covered without editing this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

import wave_hf  # noqa: F401  (registers the families with the Auto classes)
from wave_hf.models.remote_code import family_classes, write_remote_code

# small values for the fields a family declares (a field a family lacks is not passed)
TINY = dict(
    vocab_size=13,
    input_size=3,
    hidden_size=12,
    num_hidden_layers=2,
    num_heads=2,
    head_dim=4,
    num_attention_heads=2,
    history_length=3,
    num_channels=3,
    intermediate_size=16,
)
# settings that change which modules a family builds: each value gets its own checkpoint
VARIANTS = {"substrate_mode": ("window", "stream"), "gating": ("qkv", "none")}
# further checkpoints of one family, beyond the product of VARIANTS: the LBC stack with an SBC attention layer
EXTRA_VARIANTS = {"wave_lbc": [(("attention_layers", (1,)),)]}
SEQ = 7


@dataclass(frozen=True)
class Case:
    """One checkpoint: a family (config class), a variant of its config and one head class."""

    model_type: str
    variant: tuple[tuple[str, object], ...]
    auto: str  # "AutoModel", "AutoModelForCausalLM", ...

    @property
    def id(self) -> str:
        return "-".join([self.model_type, *(f"{k}={v}" for k, v in self.variant), self.auto])


def wave_config_classes() -> dict[str, type]:
    """model_type -> config class of every family that wave_hf registered with ``AutoConfig``."""
    # CONFIG_MAPPING._extra_content holds the registered (non-transformers) model types
    registered = CONFIG_MAPPING._extra_content
    return {t: c for t, c in sorted(registered.items()) if c.__module__.startswith("wave_hf.")}


def cases() -> list[Case]:
    found = []
    for model_type, config_class in wave_config_classes().items():
        fields = config_class.__dataclass_fields__
        variants: list[tuple[tuple[str, object], ...]] = [()]
        for field, values in VARIANTS.items():
            if field in fields:
                variants = [(*v, (field, value)) for v in variants for value in values]
        for variant in variants + EXTRA_VARIANTS.get(model_type, []):
            for auto in family_classes(config_class):
                if auto != "AutoConfig":
                    found.append(Case(model_type, variant, auto))
    return found


CASES = cases()


def make_config(case: Case):
    config_class = wave_config_classes()[case.model_type]
    fields = config_class.__dataclass_fields__
    return config_class(**{k: v for k, v in TINY.items() if k in fields}, **dict(case.variant))


def make_model(case: Case, seed: int = 0):
    """The head class of ``case`` with every parameter perturbed away from its initial value."""
    config = make_config(case)
    torch.manual_seed(seed)
    model = family_classes(type(config))[case.auto](config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def model_inputs(model, batch: int = 2, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if model.main_input_name == "input_values":
        return {"input_values": torch.randn(batch, SEQ, model.config.input_size, generator=g)}
    return {"input_ids": torch.randint(0, model.config.vocab_size, (batch, SEQ), generator=g)}


def output_of(model, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The main output: logits, predictions or the last hidden state."""
    with torch.no_grad():
        out = model(**inputs, use_cache=False)
    for key in ("logits", "predictions", "last_hidden_state"):
        if getattr(out, key, None) is not None:
            return getattr(out, key)
    raise AssertionError(f"{type(model).__name__} returned none of logits / predictions / last_hidden_state")


def save_checkpoint(model, folder: Path) -> None:
    """``save_pretrained``, then the remote-code bundle unless save_pretrained already wrote it."""
    model.save_pretrained(folder)
    if not (folder / f"modeling_{model.config.model_type}.py").is_file():
        write_remote_code(folder, model.config)


def assert_same_weights(loaded, model) -> None:
    ref, got = model.state_dict(), loaded.state_dict()
    assert sorted(got) == sorted(ref)
    for key in ref:
        assert got[key].dtype == ref[key].dtype, key
        assert torch.equal(got[key], ref[key]), f"{key} differs after loading"
    ref_buffers, got_buffers = dict(model.named_buffers()), dict(loaded.named_buffers())
    assert sorted(got_buffers) == sorted(ref_buffers)
    for key, value in ref_buffers.items():
        assert torch.equal(got_buffers[key], value), f"buffer {key} differs after loading"


def test_every_family_and_head_is_covered():
    types = set(wave_config_classes())
    assert {"wave_lbc", "wave_sbc"} <= types and len(types) >= 3, types
    heads = {c.auto for c in CASES}
    assert {"AutoModel", "AutoModelForCausalLM", "AutoModelForTimeSeriesPrediction"} <= heads
    assert {dict(c.variant).get("substrate_mode") for c in CASES if c.model_type == "wave_sbc"} == {"window", "stream"}
    hybrid_heads = {c.auto for c in CASES if dict(c.variant).get("attention_layers")}
    assert {"AutoModel", "AutoModelForCausalLM", "AutoModelForTimeSeriesPrediction"} <= hybrid_heads


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_save_load_identical_weights_and_outputs(case, tmp_path):
    model = make_model(case)
    inputs = model_inputs(model)
    ref = output_of(model, inputs)
    save_checkpoint(model, tmp_path)
    auto_class = getattr(__import__("transformers"), case.auto)
    for loader in (type(model), auto_class):
        loaded, info = loader.from_pretrained(tmp_path, output_loading_info=True)
        assert type(loaded) is type(model)
        assert not any(info.get(k) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
        assert_same_weights(loaded, model)
        assert torch.equal(output_of(loaded.eval(), inputs), ref)
    assert type(AutoConfig.from_pretrained(tmp_path)) is type(model.config)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_dtype_round_trip(case, tmp_path):
    model = make_model(case)
    inputs = model_inputs(model)
    save_checkpoint(model, tmp_path / "fp32")
    bf16 = make_model(case).to(torch.bfloat16)
    save_checkpoint(bf16, tmp_path / "bf16")
    loaded = type(model).from_pretrained(tmp_path / "bf16", dtype="auto").eval()
    assert loaded.dtype == torch.bfloat16
    assert_same_weights(loaded, bf16)
    assert torch.equal(output_of(loaded, inputs), output_of(bf16, inputs))
    low = type(model).from_pretrained(tmp_path / "fp32", dtype=torch.bfloat16).eval()
    float32 = sorted(n for n, p in low.named_parameters() if p.dtype != torch.bfloat16)
    assert not float32, f"parameters not in bfloat16 after from_pretrained(dtype=torch.bfloat16): {float32}"
