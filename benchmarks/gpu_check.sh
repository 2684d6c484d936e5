#!/usr/bin/env bash
# The GPU measurements the README's performance table needs, as one device run.
#
# Prepare on a machine with PyPI access (the GPU host has none and ships transformers 5.x):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#       --platform manylinux2014_x86_64 -d .whl \
#       zstandard==0.25.0   # the host's transformers 5.x serves; adapters is not needed
# Then run this script on the GPU host from the repository root (with .whl/ beside it);
# results go to $OUT (default ./gpu-results). Not yet run on a GPU: expect to adjust.
set -uo pipefail
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/specter2-site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/specter2-site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 - <<'PY' 2>&1 | tee "$OUT/env.txt"
import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name())
PY
# exactness of the fused engine against adapters on the GPU (fp32) and its fp16 drift
python3 -m pytest -q tests/test_fused.py tests/test_embed.py -x 2>&1 | tail -3 | tee "$OUT/tests.txt"
# (a) model-card loop, (b) best plain recipe, (c) the tool end to end: 16,384 records, SPECTER2 shape
timeout 420 python3 -m specter2_cli bench --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.txt"
# the same with a larger token budget for (c)
timeout 120 python3 -m specter2_cli bench --cases c --batch-tokens 262144 --json "$OUT/bench_262k.json" 2>&1 | tee "$OUT/bench_262k.txt"
