#!/usr/bin/env bash
# The GPU measurements the README's performance table needs, as one device run that ends
# within 8 minutes on one H100/H200 (about 5 expected): every step's time limit is taken
# from one overall deadline, so a slow step shortens or skips the later ones.
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
# Two files go to $OUT (a device run brings back at most 8):
#   gpu_check.log  everything printed: the GPU and versions; gpu_check.py's summary (fp32 GPU
#                  vs CPU; fp16/bf16 vs fp32, varlen and padded; GPU-only papers/s and peak
#                  memory of each engine; the out-of-memory policy under a real memory cap;
#                  fp16 overflow reruns); `specter2 bench` (model-card loop, best plain
#                  recipe, specter2 embed end to end, on the same model and corpus); and
#                  `specter2 embed --devices cuda:0` end to end
#   results.json   {"gpu_check": ..., "bench": ..., "bench_262k": ..., "steps": ...}
# DEVICE=cpu RECORDS=300 LAYERS=2 HIDDEN=64 bash benchmarks/gpu_check.sh is a dry run.
set -uo pipefail
OUT=${OUT:-gpu-results}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
START=$SECONDS
DEADLINE=$((START + ${BUDGET_S:-480}))
RESERVE=20  # for writing results.json after the last step
LOG=$OUT/gpu_check.log
WORK=/tmp/specter2-gpu-check
rm -rf "$WORK"
mkdir -p "$WORK/json"
STEPS=$WORK/steps.txt
: > "$STEPS"

left() { echo $((DEADLINE - RESERVE - SECONDS)); }

# step NAME MAX_SECONDS MIN_SECONDS command...: runs the command for at most MAX_SECONDS and
# never past the deadline (SIGKILL 5 s after SIGTERM); skipped if under MIN_SECONDS are left.
step() {
    local name=$1 max=$2 min=$3 budget rc t0
    shift 3
    budget=$(( $(left) - 5 ))
    [ "$budget" -gt "$max" ] && budget=$max
    if [ "$budget" -lt "$min" ]; then
        echo "== $name: skipped, ${budget}s left before the deadline" | tee -a "$LOG"
        echo "$name skipped" >> "$STEPS"
        return 0
    fi
    echo "== $name (at most ${budget}s, at $((SECONDS - START)) s)" | tee -a "$LOG"
    t0=$SECONDS
    timeout -k 5 "$budget" "$@" >> "$LOG" 2>&1
    rc=$?
    echo "== $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$LOG"
    echo "$name exit=$rc seconds=$((SECONDS - t0))" >> "$STEPS"
    return 0
}

if compgen -G ".whl/*.whl" > /dev/null; then
    step wheels 120 10 python3 -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target "$WORK/site" .whl/*.whl
fi
export PYTHONPATH=$WORK/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ "$DEVICE" != cpu ]; then
    step gpu 20 5 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
fi
step versions 60 10 python3 -c "import torch, transformers; print(torch.__version__, \
transformers.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
KEEP=$WORK/keep
step gpu_check 300 60 python3 benchmarks/gpu_check.py --out "$WORK/json" --keep "$KEEP" \
    --device "$DEVICE" --records "${RECORDS:-16384}" --layers "${LAYERS:-12}" \
    --hidden "${HIDDEN:-768}"
MODEL=$KEEP/model/specter2_base ADAPTER=$KEEP/model/specter2_proximity CORPUS=$KEEP/corpus.jsonl
if [ -f "$CORPUS" ]; then
    # the bench leaves the --devices run its 90 s unless time is short
    step bench $(( $(left) - 100 > 60 ? $(left) - 100 : 60 )) 60 python3 -m specter2_cli bench \
        --model "$MODEL" --adapter-path "$ADAPTER" --input "$CORPUS" --device "$DEVICE" \
        --json "$WORK/json/bench.json"
    head -n 2048 "$CORPUS" > "$WORK/small.jsonl"
    devices=cuda:0
    [ "$DEVICE" = cpu ] && devices=cpu
    step devices 90 30 python3 -m specter2_cli embed "$WORK/small.jsonl" -o "$WORK/devices-out" \
        --base-model "$MODEL" --adapter-path "$ADAPTER" --devices "$devices" --no-progress
    # case c again with twice the token budget, only with time to spare
    step bench_262k 90 80 python3 -m specter2_cli bench --model "$MODEL" \
        --adapter-path "$ADAPTER" --input "$CORPUS" --device "$DEVICE" --cases c \
        --batch-tokens 262144 --json "$WORK/json/bench_262k.json"
fi
timeout -k 2 $((DEADLINE - SECONDS > 5 ? DEADLINE - SECONDS - 2 : 3)) python3 - "$WORK" "$OUT" <<'PY'
import json, sys
from pathlib import Path

work, out = Path(sys.argv[1]), Path(sys.argv[2])
results = {}
for name, file in (("gpu_check", "gpu_check.json"), ("bench", "bench.json"),
                   ("bench_262k", "bench_262k.json")):
    p = work / "json" / file
    try:
        results[name] = json.loads(p.read_text()) if p.is_file() else None
    except ValueError as e:
        results[name] = f"unreadable: {e}"
results["steps"] = (work / "steps.txt").read_text().splitlines()
(out / "results.json").write_text(json.dumps(results, indent=1, default=str))
PY
echo "total $((SECONDS - START)) s" | tee -a "$LOG"
