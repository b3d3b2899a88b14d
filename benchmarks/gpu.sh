#!/usr/bin/env bash
# One command, under 8 minutes, no network: LoRA + bf16 + packing on random-init Qwen2.5-VL-3B- and Qwen3-VL-2B-shaped
# models; prints tokens/s, peak memory and MFU (convention printed first). Optional pinned wheels (flash-attn,
# liger-kernel) are installed from a local folder when present: WHEELS=/path/to/wheels (default benchmarks/wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
WHEELS=${WHEELS:-benchmarks/wheels}
if [ -d "$WHEELS" ]; then
  # never touch torch: --no-deps, pinned names only
  "$PY" -m pip install -q --no-index --no-deps --find-links "$WHEELS" "flash-attn==2.8.3" "liger-kernel==0.6.4" \
    || echo "gpu.sh: local wheels not installed; running with sdpa and the chunked loss"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} TOKENIZERS_PARALLELISM=false
timeout 450 "$PY" benchmarks/gpu_bench.py --steps "${STEPS:-30}" --tokens "${TOKENS:-16384}"
