#!/bin/bash
# The GPU benchmark, run on the device machine from the repository root (see bench/README.md):
#   bench/gpu/run.sh train    ours (burn Vulkan, fusion, autotune) training images/s, twice per
#                             batch size (the second run shows the persisted autotune cache)
#   bench/gpu/run.sh half     ours training in f16 (batch 64)
#   bench/gpu/run.sh generate the default request's latency, 10 runs in one process
#   bench/gpu/run.sh profile  burn's per-kernel profile of 30 training steps at batch 64
#   bench/gpu/run.sh torch    PyTorch eager and torch.compile on the same net and batches, and
#                             the default request's latency in both
# It expects .device/designer.xz (our release binary with --features cli,gpu, stripped, xz),
# .device/catalog.tar.xz (the catalog subset the renders need) and .gl/*.deb (the Vulkan
# loader and GL dispatch libraries: the machine has the NVIDIA driver but no loader).
# JSON lines go to $OUT (or target/bench/gpu).
set -euo pipefail
OUT=${OUT:-target/bench/gpu}
mkdir -p "$OUT"
WORK=target/bench/gpu-work
mkdir -p "$WORK"
[ -x "$WORK/designer" ] || python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.device/designer.xz'),open('$WORK/designer','wb'))"
chmod +x "$WORK/designer"
DESIGNER=$WORK/designer
[ -d "$WORK/catalog" ] || python3 -c "import tarfile;tarfile.open('.device/catalog.tar.xz').extractall('$WORK')"
for deb in .gl/*.deb; do dpkg -x "$deb" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
# 64 px renders to train on, streamed from disk as real training does.
[ -f "$WORK/data64/labels.jsonl" ] || "$DESIGNER" scenes --catalog "$WORK/catalog" --count 4096 --size 64 --out "$WORK/data64" >/dev/null

train_ours() { # batch steps label
  rm -rf "$WORK/ckpt"
  local started=$(date +%s.%N)
  "$DESIGNER" train --data "$WORK/data64" --backend vulkan --batch-size "$1" --epochs 1 \
    --steps-per-epoch "$2" --checkpoint-dir "$WORK/ckpt" --out "$WORK/model.weights" \
    --metrics "$OUT/designer-b$1-$3.jsonl" 2>"$OUT/designer-b$1-$3.log" >/dev/null
  echo "{\"trainer\": \"designer\", \"batch\": $1, \"steps\": $2, \"run\": \"$3\", \"process_seconds\": $(echo "$(date +%s.%N) - $started" | bc)}" | tee -a "$OUT/designer-runs.jsonl"
}

case "${1:-}" in
  train)
    for batch in 64 256; do
      train_ours "$batch" 300 first
      train_ours "$batch" 300 second
    done
    ;;
  half) # ours with the whole model in f16 (burn has no f32 master copy): the conv kernels'
        # speed at half precision, not a training recipe
    rm -rf "$WORK/ckpt"
    "$DESIGNER" train --data "$WORK/data64" --backend vulkan --float f16 --batch-size 64 --epochs 1 \
      --steps-per-epoch 300 --checkpoint-dir "$WORK/ckpt" --out "$WORK/model.weights" \
      --metrics "$OUT/designer-b64-f16.jsonl" 2>"$OUT/designer-b64-f16.log" >/dev/null
    tail -3 "$OUT/designer-b64-f16.log"
    ;;
  generate)
    "$DESIGNER" generate --backend vulkan --repeat 10 --out "$WORK/designs" 2>&1 | grep -E "^run" | tee "$OUT/designer-generate.txt"
    ;;
  profile)
    printf '[profiling.logger]\nlevel = "basic"\nfile = "%s"\nappend = false\n' "$OUT/profile.log" > cubecl.toml
    rm -rf "$WORK/ckpt"
    "$DESIGNER" train --data "$WORK/data64" --backend vulkan --batch-size 64 --epochs 1 \
      --steps-per-epoch 30 --checkpoint-dir "$WORK/ckpt" --out "$WORK/model.weights" >/dev/null 2>&1
    rm cubecl.toml
    python3 bench/gpu/kernels.py "$OUT/profile.log" | tee "$OUT/profile.md"
    gzip -f "$OUT/profile.log"
    ;;
  torch)
    "$DESIGNER" export --format safetensors --precision f32 --out "$WORK/weights.safetensors"
    python3 bench/gpu/torch_train.py --batches 64,256 --steps 300 --weights "$WORK/weights.safetensors" | tee "$OUT/torch.jsonl"
    ;;
  *) echo "usage: $0 train|half|generate|profile|torch" >&2; exit 2 ;;
esac
