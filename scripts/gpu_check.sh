#!/usr/bin/env bash
# GPU check: the CUDA-only tests, the scan benchmark and the model benchmark at GPU sizes, on one GPU.
#
#   scripts/gpu_check.sh            # from the repository root, on a machine with a CUDA GPU, torch and triton
#
# Installs nothing heavy: torch (CUDA build) and triton must already be importable; wave_hf itself is installed with
# `pip install -e . --no-deps` if it is not importable. Runs `pytest -m cuda tests/ops` (compiled Triton kernels:
# TRITON_INTERPRET=0), `scripts/bench_scan.py --device cuda` (Triton vs chunked vs FFT conv, achieved HBM GB/s) and
# `scripts/bench_models.py` at ~125M parameters in bf16 up to L = 16k (Mamba uses the mamba_ssm kernels when that
# package is installed; peers that are not installed are listed, the machine has no network to fetch them).
# Budget: about 11 minutes (timeouts 240 + 180 + 240 s; the model benchmark writes its table after every length). Output: a short summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ]; then PY=.venv/bin/python; fi
export TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
OUT=${GPU_CHECK_OUT:-gpu_check_out}
mkdir -p "$OUT"

echo "== environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" - <<'EOF'
import torch, triton
assert torch.cuda.is_available(), "no CUDA device visible to torch"
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), triton {triton.__version__}, {torch.cuda.get_device_name()}")
EOF
if ! "$PY" -c "import wave_hf" 2>/dev/null; then
  echo "== installing wave_hf (editable, no dependencies)"
  "$PY" -m pip install -q -e . --no-deps
fi

status=0
echo "== CUDA tests: pytest -m cuda tests/ops"
set +e
timeout 240 "$PY" -m pytest -m cuda tests/ops -q -p no:cacheprovider -rs 2>&1 | tee "$OUT/pytest_cuda.log"
test_rc=${PIPESTATUS[0]}
set -e
[ "$test_rc" -eq 0 ] || status=1

echo "== benchmark: scripts/bench_scan.py --device cuda"
set +e
timeout 180 "$PY" scripts/bench_scan.py --device cuda --max-reference-length 1024 2>&1 | tee "$OUT/bench_cuda.md"
bench_rc=${PIPESTATUS[0]}
set -e
[ "$bench_rc" -eq 0 ] || status=1

echo "== peers installed on this machine"
"$PY" - <<'EOF' | tee "$OUT/peers.txt"
import importlib.util
for name in ("fla", "mamba_ssm", "causal_conv1d", "flash_attn"):
    print(f"{name}: {'installed' if importlib.util.find_spec(name) else 'not installed'}")
EOF

echo "== model benchmark: scripts/bench_models.py --device cuda (125M, bf16)"
set +e
timeout 240 "$PY" scripts/bench_models.py --device cuda --dtype bfloat16 --hidden 768 --layers 12 --heads 12 \
  --vocab 32000 --lengths 2048 8192 16384 --decode-prompts 128 2048 16384 --tokens-per-step 16384 \
  --window-tokens-per-step 2048 --row-limit 30 \
  --out "$OUT/bench_models" 2>&1 | tee "$OUT/bench_models.log"
models_rc=${PIPESTATUS[0]}
set -e
[ "$models_rc" -eq 0 ] || status=1

echo "== summary"
echo "cuda tests: $(grep -Eo '[0-9]+ (passed|failed|skipped|error)[^=]*' "$OUT/pytest_cuda.log" | tail -1) (exit $test_rc)"
echo "benchmark: exit $bench_rc, table in $OUT/bench_cuda.md"
echo "model benchmark: exit $models_rc, table in $OUT/bench_models/bench_models.md"
exit $status
