#!/usr/bin/env bash
# The GPU measurements the README's performance table needs, as one device run of at
# most 8 minutes on one H100/H200 (about 5 expected). Results go to $OUT.
#
# Prepare on a machine with PyPI access (the GPU host has none; its transformers 5.x,
# tokenizers and huggingface_hub serve):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#       --platform manylinux2014_x86_64 -d .whl \
#       zstandard==0.25.0   # the host's transformers 5.x serves; adapters is not needed
# (.whl/ is git-ignored: carry it.) Then, from the repository root on the GPU host:
#   bash benchmarks/gpu_check.sh
#
#   gpu_check.txt/.json  fp32 GPU vs CPU; fp16/bf16 vs fp32 (varlen and padded); GPU-only
#                        papers/s and peak memory of the varlen and padded engines; the
#                        out-of-memory policy under a real memory cap; fp16 overflow reruns
#   bench.txt/.json      (a) model-card loop, (b) best plain recipe, (c) specter2 embed end
#                        to end, on the same model and 16,384-record corpus
#   devices.txt          `specter2 embed --devices cuda:0` end to end (a worker per GPU)
set -uo pipefail
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
START=$SECONDS
SITE=/tmp/specter2-site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" .whl/*.whl || exit 1
export PYTHONPATH=$SITE:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 - <<'PY' 2>&1 | tee "$OUT/env.txt"
import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name())
PY
KEEP=/tmp/specter2-gpu-check
rm -rf "$KEEP"
timeout 300 python3 benchmarks/gpu_check.py --out "$OUT" --keep "$KEEP" 2>&1 | tee "$OUT/gpu_check.log" | tail -40
echo "gpu_check.py done at $((SECONDS - START)) s"
MODEL=$KEEP/model/specter2_base ADAPTER=$KEEP/model/specter2_proximity CORPUS=$KEEP/corpus.jsonl
if [ -f "$CORPUS" ]; then
    left=$((460 - (SECONDS - START)))
    timeout $((left > 60 ? left - 30 : 30)) python3 -m specter2_cli bench --model "$MODEL" \
        --adapter-path "$ADAPTER" --input "$CORPUS" --device cuda --json "$OUT/bench.json" \
        2>&1 | tee "$OUT/bench.txt" | tail -25
    echo "bench done at $((SECONDS - START)) s"
    if [ $((SECONDS - START)) -lt 330 ]; then  # case c again with twice the token budget
        timeout 90 python3 -m specter2_cli bench --model "$MODEL" --adapter-path "$ADAPTER" \
            --input "$CORPUS" --device cuda --cases c --batch-tokens 262144 \
            --json "$OUT/bench_262k.json" 2>&1 | tee "$OUT/bench_262k.txt" | tail -8
    fi
    head -n 2048 "$CORPUS" > /tmp/specter2-small.jsonl
    timeout 90 python3 -m specter2_cli embed /tmp/specter2-small.jsonl -o /tmp/specter2-devices-out \
        --base-model "$MODEL" --adapter-path "$ADAPTER" --devices cuda:0 --no-progress \
        > "$OUT/devices.txt" 2>&1
    echo "devices: exit $? $(tail -n 3 "$OUT/devices.txt" | tr '\n' ' ')" | tee -a "$OUT/devices.txt"
fi
echo "total $((SECONDS - START)) s"
