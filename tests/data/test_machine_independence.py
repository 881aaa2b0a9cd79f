"""Same (name, params, seed) -> byte-identical rows whatever SIMD code numpy dispatches to.

A fresh process with numpy's runtime dispatch turned off (``NPY_DISABLE_CPU_FEATURES``: the code paths of a CPU
without AVX2/AVX-512) must produce the same bytes for every family. The check is not vacuous: in that process
numpy's own ``exp``/``tanh`` do change in the last bits (asserted when this CPU has dispatch targets), which is
why the generators avoid them.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy._core import _multiarray_umath as _mu

from tests.data.helpers import SMALL

REPO_ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = """
import json, sys
from tests.data.test_machine_independence import hashes
print(json.dumps(hashes()))
"""


def hashes() -> dict:
    """sha256 of 70 test-split rows (two blocks) of every family, and of numpy's own exp/tanh on a grid."""
    import wave_hf.data as wd

    out = {}
    for name, p in sorted(SMALL.items()):
        cols = wd.sample_rows(name, 0, 70, seed=11, split="test", **p)
        h = hashlib.sha256()
        for k in sorted(cols):
            h.update(k.encode() + np.ascontiguousarray(cols[k]).tobytes())
        out[name] = h.hexdigest()
    x = np.linspace(-20, 20, 20001)
    out["numpy_exp_tanh"] = hashlib.sha256(np.exp(x).tobytes() + np.tanh(x / 7).tobytes()).hexdigest()
    return out


def _hashes(env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=300,
                          cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_rows_do_not_depend_on_simd_dispatch():
    present = [f for f in _mu.__cpu_dispatch__ if _mu.__cpu_features__.get(f)]
    if not present:
        pytest.skip("this numpy build/CPU dispatches nothing beyond its baseline")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    default = hashes()
    plain = _hashes({**env, "NPY_DISABLE_CPU_FEATURES": " ".join(present)})
    libm = default.pop("numpy_exp_tanh"), plain.pop("numpy_exp_tanh")
    assert default == plain
    assert sorted(default) == sorted(SMALL)
    if any(f.startswith(("AVX512", "X86_V4")) for f in present):
        assert libm[0] != libm[1], "expected numpy's SIMD exp/tanh to differ without AVX-512 (the check's premise)"
