"""Configurations: torch-free (transformers' rule for configuration files), and one name for the number of heads
(the old one still reads and loads). The package's import order is checked by tests/test_layering.py."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoConfig

import wave_hf
from wave_hf.models import WaveLBCConfig, WaveSBCConfig
from wave_hf.models.baselines import KellerWaveRNNConfig

PACKAGE = Path(wave_hf.__file__).parent
CONFIG_FILES = sorted(PACKAGE.glob("models/**/configuration_*.py")) + [PACKAGE / "layers" / "options.py"]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside functions (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            found.add(f"{base}.{node.module}" if node.level and node.module else node.module or base)
    return found


def test_configuration_files_import_no_torch():
    assert len(CONFIG_FILES) >= 5, CONFIG_FILES
    allowed_roots = {"__future__", "typing", "collections", "math", "dataclasses", "os", "transformers", "wave_hf"}
    # remote_code is imported inside WaveBaseConfig.save_pretrained (torch-free: see the test below)
    torch_free = {"wave_hf.layers.options", "wave_hf.models.configuration_utils", "wave_hf.models.remote_code"}
    for path in CONFIG_FILES:
        for module in _imports(path):
            assert module.split(".")[0] in allowed_roots, (path.name, module)
            if module.startswith("wave_hf"):
                assert module in torch_free or module.startswith("wave_hf.models.") and "configuration" in module, (
                    path.name, module)
            if module.startswith("transformers"):
                assert module == "transformers", (path.name, module)


def test_the_bundle_writer_imports_only_the_standard_library_and_transformers():
    # WaveBaseConfig.save_pretrained imports it, so a configuration stays torch-free
    roots = {m.split(".")[0] for m in _imports(PACKAGE / "models" / "remote_code.py")}
    assert roots - set(sys.stdlib_module_names) == {"transformers"}, roots


def test_configurations_build_with_torch_unavailable():
    """Load the configuration modules (without the package __init__s, which import the models) in a process where
    importing torch fails, and build each configuration."""
    code = f"""
import importlib.util, sys, types
sys.modules["torch"] = None
root = {str(PACKAGE)!r}
for name, sub in (("wave_hf", ""), ("wave_hf.layers", "/layers"), ("wave_hf.models", "/models"),
                  ("wave_hf.models.wave_lbc", "/models/wave_lbc"), ("wave_hf.models.wave_sbc", "/models/wave_sbc"),
                  ("wave_hf.models.baselines", "/models/baselines")):
    pkg = types.ModuleType(name)
    pkg.__path__ = [root + sub]
    sys.modules[name] = pkg
from wave_hf.models.wave_lbc.configuration_wave_lbc import WaveLBCConfig
from wave_hf.models.wave_sbc.configuration_wave_sbc import WaveSBCConfig
from wave_hf.models.baselines.configuration_baselines import ElmanRNNConfig
WaveLBCConfig(num_heads=2, head_dim=4), WaveSBCConfig(num_attention_heads=2), ElmanRNNConfig()
try:
    WaveLBCConfig(boundary="full")
except ValueError as err:
    assert "`boundary` must be one of" in str(err)
else:
    raise AssertionError("no error")
assert "torch" not in {{m for m in sys.modules if sys.modules[m] is not None and m.split(".")[0] == "torch"}}
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


@pytest.mark.parametrize("config_class", [WaveLBCConfig, WaveSBCConfig])
def test_one_name_for_the_number_of_heads(config_class, tmp_path):
    """``num_heads`` for LBC and SBC; ``num_attention_heads`` (SBC's name before) is accepted, read, and loads from
    an old config.json."""
    extra = {"head_dim": 4} if config_class is WaveLBCConfig else {}
    cfg = config_class(num_attention_heads=2, hidden_size=8, **extra)
    assert cfg.num_heads == 2 and cfg.num_attention_heads == 2
    cfg.num_attention_heads = 4
    assert cfg.num_heads == 4
    cfg.save_pretrained(tmp_path / "new")
    saved = json.loads((tmp_path / "new" / "config.json").read_text())
    assert saved["num_heads"] == 4 and "num_attention_heads" not in saved
    old = dict(saved)
    old["num_attention_heads"] = old.pop("num_heads")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps(old))
    loaded = AutoConfig.from_pretrained(tmp_path / "old")
    assert type(loaded) is config_class and loaded.num_heads == 4 and loaded.num_attention_heads == 4
    with pytest.raises(ValueError, match="`num_heads` must be an integer >= 1"):
        config_class(num_attention_heads=0, **extra)


def test_keller_wave_rnn_keeps_its_model_type():
    assert KellerWaveRNNConfig.model_type == "wrnn"
    assert type(AutoConfig.for_model("wrnn", hidden_size=12, num_channels=3)) is KellerWaveRNNConfig
    assert not hasattr(wave_hf.models.baselines, "WaveRNNConfig")
