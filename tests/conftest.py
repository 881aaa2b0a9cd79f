"""Test-session environment: hermetic caches, no Hub access, Triton kernels on the CPU interpreter.

The variables must be set before torch/triton/transformers are imported (TRITON_INTERPRET is read when
``@triton.jit`` decorates, HF_ENDPOINT/HF_HUB_OFFLINE at import of huggingface_hub), so they live here.
"""

import os
import tempfile

_ROOT = os.environ.setdefault("WAVE_HF_TEST_CACHE", tempfile.mkdtemp(prefix="wave_hf_test_cache_"))
# pytest-xdist workers inherit the variables the controller's conftest set; each worker gets caches of its own
_CACHE = os.path.join(_ROOT, os.environ.get("PYTEST_XDIST_WORKER", "main"))
for _var, _sub in {"HF_HOME": "hf", "HF_DATASETS_CACHE": "hf/datasets", "TRITON_CACHE_DIR": "triton",
                   "TORCHINDUCTOR_CACHE_DIR": "inductor"}.items():
    if os.environ.get(_var, _ROOT).startswith(_ROOT):  # unset, or set by the controller: a value the user set is kept
        os.environ[_var] = os.path.join(_CACHE, _sub)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

# Triton kernels run on the CPU interpreter only where there is no GPU (on CUDA the same tests run compiled).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Tiny models run faster (and far more predictably on a shared machine) on one thread; subprocesses that tests
# start choose their own threads.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason="needs a CUDA device")
    if not torch.cuda.is_available():
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(skip_cuda)
