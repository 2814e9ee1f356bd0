#!/usr/bin/env bash
# Checks of the CUDA path on a machine with an NVIDIA GPU: the CUDA tests (plus the training,
# resume and pipeline tests, which take the GPU there through `device: auto`), then the
# benchmarks on the GPU and, for the ratio, on 2 CPU threads of the same machine.
#
#   bash scripts/gpu_check.sh [LOG_DIR]          (default LOG_DIR: gpu_check/)
#   PYTHON=/path/to/python bash scripts/gpu_check.sh
set -uo pipefail
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
LOG=${1:-gpu_check}
mkdir -p "$LOG"
export PYTHONUNBUFFERED=1
status=0

"$PY" - <<'EOF' 2>&1 | tee "$LOG/device.txt"
import torch
if not torch.cuda.is_available():
    raise SystemExit("torch sees no CUDA GPU: nothing to check here")
print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, bf16 {torch.cuda.is_bf16_supported()}")
EOF
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1

"$PY" -m pytest -q -p no:cacheprovider -o addopts="" \
    tests/test_cuda.py tests/test_device.py tests/test_checkpoint.py tests/test_lv_pipeline.py \
    tests/test_ears_train.py tests/test_ears_detect.py 2>&1 | tee "$LOG/pytest.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

run() {  # NAME COMMAND...: one benchmark, its output kept in LOG/NAME.txt
    local name=$1
    shift
    echo "== $name: $*"
    "$@" 2>&1 | tee "$LOG/$name.txt"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
}
run ears_gpu "$PY" scripts/benchmark_ears.py --device cuda --runs 5
run lv_gpu "$PY" scripts/benchmark_lv.py --device cuda --repeats 5 --train-steps 40
run lv_gpu_amp "$PY" scripts/benchmark_lv.py --device cuda --repeats 5 --train-steps 40 --lv-config mixed_precision=true
run lv_cpu "$PY" scripts/benchmark_lv.py --device cpu --threads 2 --repeats 2 --train-steps 5
run ears_cpu "$PY" scripts/benchmark_ears.py --device cpu --threads 2 --runs 3
exit $status
