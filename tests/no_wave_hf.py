"""Child interpreters in which wave_hf cannot be imported, as on a machine with only transformers and torch: the
remote-code bundle, the saved byte tokenizer and lm-evaluation-harness's command line are tested in them."""

from __future__ import annotations

import os
import subprocess
import sys

# Prepended to a child interpreter's code: importing wave_hf raises, as if it were not installed.
BLOCK_WAVE_HF = r'''
import importlib.abc
import sys

class NoWaveHF(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "wave_hf" or name.startswith("wave_hf."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, NoWaveHF())
try:
    import wave_hf  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("the wave_hf blocker does not work")
'''


def run_without_wave_hf(code: str, workdir, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that cannot import wave_hf, with ``workdir`` (outside the repository) as
    its working directory and its Hugging Face caches, and no network (``HF_HUB_OFFLINE``, ``HF_DATASETS_OFFLINE``).
    Raises with the child's output when it fails."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME=str(workdir / "hf"),
               HF_MODULES_CACHE=str(workdir / "hf_modules"), HF_DATASETS_CACHE=str(workdir / "hf" / "datasets"),
               TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-c", BLOCK_WAVE_HF + code], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"child exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
                             f"--- stderr\n{proc.stderr[-8000:]}")
    return proc
