#!/bin/bash
# The GPU benchmark, run on the device machine from the repository root (see bench/README.md):
#   bench/gpu/run.sh train    ours (burn Vulkan, fusion, autotune) training images/s, twice per
#                             batch size (the second run shows the persisted autotune cache)
#   bench/gpu/run.sh mixed [B...]  ours in mixed precision (f16 compute, f32 parameters)
#   bench/gpu/run.sh f32 [B...]    ours in f32, one run per batch size
#   bench/gpu/run.sh half     ours training wholly in f16 (batch 64)
#   bench/gpu/run.sh generate the default request's latency, 10 runs in one process
#   bench/gpu/run.sh profile [f32|mixed]  burn's per-kernel profile of 30 training steps at
#                             batch 64
#   bench/gpu/run.sh autotune [f32|mixed]  autotune's candidates and choices, tuned afresh
#   bench/gpu/run.sh torch    PyTorch eager and torch.compile on the same net and batches, and
#                             the default request's latency in both
#   bench/gpu/run.sh torch-amp  the same PyTorch trainers in mixed precision (autocast f16)
# It expects .device/designer.xz (our release binary, `-p designer-cli --features gpu`, stripped, xz),
# the training renders (.device/catalog.tar.xz to render them from, or the rendered folder)
# and .gl/*.deb (the Vulkan loader and GL dispatch libraries: the machine has the NVIDIA
# driver but no loader).
# JSON lines go to $OUT (or target/bench/gpu).
set -euo pipefail
OUT=${OUT:-target/bench/gpu}
mkdir -p "$OUT"
WORK=target/bench/gpu-work
mkdir -p "$WORK"
[ -x "$WORK/designer" ] || python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.device/designer.xz'),open('$WORK/designer','wb'))"
chmod +x "$WORK/designer"
DESIGNER=$WORK/designer
for deb in .gl/*.deb; do dpkg -x "$deb" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
# 64 px renders to train on, streamed from disk as real training does (rendered here from the
# catalog, or carried already rendered in target/bench/gpu-work/data64).
if [ ! -f "$WORK/data64/labels.jsonl" ]; then
  [ -d "$WORK/catalog" ] || python3 -c "import tarfile;tarfile.open('.device/catalog.tar.xz').extractall('$WORK')"
  "$DESIGNER" scenes --catalog "$WORK/catalog" --count 4096 --size 64 --out "$WORK/data64" >/dev/null
fi

train_ours() { # batch steps label [float: f32 (default), mixed, f16]
  rm -rf "$WORK/ckpt"
  local started=$SECONDS
  "$DESIGNER" train --data "$WORK/data64" --backend vulkan --float "${4:-f32}" --batch-size "$1" \
    --epochs 1 --steps-per-epoch "$2" --checkpoint-dir "$WORK/ckpt" --out "$WORK/model.weights" \
    --metrics "$OUT/designer-b$1-$3.jsonl" 2>"$OUT/designer-b$1-$3.log" >/dev/null
  echo "{\"trainer\": \"designer\", \"float\": \"${4:-f32}\", \"batch\": $1, \"steps\": $2, \"run\": \"$3\", \"process_seconds\": $((SECONDS - started))}" | tee -a "$OUT/designer-runs.jsonl"
  python3 bench/gpu/steady.py "$OUT/designer-b$1-$3.jsonl" "$1"
}

case "${1:-}" in
  train)
    for batch in 64 256; do
      train_ours "$batch" 300 first
      train_ours "$batch" 300 second
    done
    ;;
  mixed) # ours in mixed precision (f16 compute, f32 parameters), batch sizes as arguments
    shift
    for batch in "${@:-64}"; do train_ours "$batch" 300 mixed mixed; done
    ;;
  f32) # ours in f32, batch sizes as arguments (one run each, for a baseline on this card)
    shift
    for batch in "${@:-64}"; do train_ours "$batch" 300 f32; done
    ;;
  half) # ours with the whole model in f16 (parameters and Adam's state too): the conv
        # kernels' speed at half precision, not a training recipe
    train_ours 64 300 f16 f16
    ;;
  generate)
    "$DESIGNER" generate --backend vulkan --repeat 10 --out "$WORK/designs" 2>&1 | grep -E "^run" | tee "$OUT/designer-generate.txt"
    ;;
  profile)
    printf '[profiling.logger]\nlevel = "basic"\nfile = "%s"\nappend = false\n' "$OUT/profile.log" > cubecl.toml
    rm -rf "$WORK/ckpt"
    "$DESIGNER" train --data "$WORK/data64" --backend vulkan --float "${2:-f32}" --batch-size 64 --epochs 1 \
      --steps-per-epoch 30 --checkpoint-dir "$WORK/ckpt" --out "$WORK/model.weights" >/dev/null 2>&1
    rm cubecl.toml
    python3 bench/gpu/kernels.py "$OUT/profile.log" | tee "$OUT/profile.md"
    gzip -f "$OUT/profile.log"
    ;;
  autotune) # what autotune tried and chose for each kernel of 20 training steps at batch 64,
            # tuned afresh (the persisted choices are bypassed)
    printf '[autotune]\ndisable_cache = true\n[autotune.logger]\nlevel = "full"\nfile = "%s"\nappend = false\n[autotune.decisions]\nfile = "%s"\nappend = false\n' \
      "$OUT/autotune.log" "$OUT/decisions.jsonl" > cubecl.toml
    rm -rf "$WORK/ckpt"
    "$DESIGNER" train --data "$WORK/data64" --backend vulkan --float "${2:-f32}" --batch-size 64 --epochs 1 \
      --steps-per-epoch 20 --checkpoint-dir "$WORK/ckpt" --out "$WORK/model.weights" >/dev/null 2>&1
    rm cubecl.toml
    gzip -f "$OUT/autotune.log"
    ;;
  torch)
    "$DESIGNER" export --format safetensors --precision f32 --out "$WORK/weights.safetensors"
    python3 bench/gpu/torch_train.py --batches 64,256 --steps 300 --weights "$WORK/weights.safetensors" | tee "$OUT/torch.jsonl"
    ;;
  torch-amp) # PyTorch's mixed-precision recipe, to set beside ours under `mixed`
    python3 bench/gpu/torch_train.py --batches 64,256 --steps 300 --amp | tee "$OUT/torch-amp.jsonl"
    ;;
  *) echo "usage: $0 train|mixed|f32|half|generate|profile|autotune|torch|torch-amp" >&2; exit 2 ;;
esac
