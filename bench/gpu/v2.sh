#!/bin/bash
# Generator v2 on the device machine (issue 20): the spike's candidates and the long run, from
# the repository root. Each step writes its metrics (JSON lines) and logs to target/v2/logs,
# which `pack` brings back as one file (what comes back from a call is at most 8 files).
#   bench/gpu/v2.sh setup                     loaders, our GPU binary, the catalog, burn's
#                                             autotune cache from an earlier machine
#   bench/gpu/v2.sh autoencoder SECONDS [INIT]  the latent networks' autoencoder, on 128 px
#                                             crops of 256 px renders (from INIT's weights, if
#                                             given, or a checkpoint of the stage)
#   bench/gpu/v2.sh pixels SECONDS            candidate (a): generator v2 over pixels, 256 px
#   bench/gpu/v2.sh latent SECONDS [INIT]     candidate (b): the flow over the autoencoder's
#                                             latents (from INIT, default the autoencoder run's
#                                             weights; resumes its checkpoint if there is one)
#   bench/gpu/v2.sh dit SECONDS [AUTOENCODER]   candidate (b'): a transformer over the same
#                                             latents (the autoencoder run's, frozen);
#                                             REUSE=K trains on each encoded render K times
#                                             (latent and dit); INIT=W continues W's
#                                             transformer (a chained run on a fresh machine);
#                                             LAYOUT=1 adds and trains the layout layer;
#                                             BATCH=N trains on N latents a step (128; 256
#                                             was slower and asked Vulkan for a 2.2 GB
#                                             buffer it could not allocate)
#   bench/gpu/v2.sh chain SECONDS             the transformer from the committed chain file,
#                                             REUSE=4 unless told, learning layouts (issue 22),
#                                             in PARTS processes one after another;
#                                             RENDER_THREADS=N renders the pool on N threads
#                                             (default 8: 1.5-2x the images/s of all but two)
#   bench/gpu/v2.sh profile STAGE SECONDS     burn's per-kernel profile of a stage
#   (burn 0.22.1 reads BURN_FUSION_MAX_EXPLORATIONS=N and BURN_FUSION_LOG=basic|medium from the
#   environment: the measurement of the training step's host-bound recording, BENCHMARKS.md
#   fourteenth and fifteenth sessions; the metrics' data/record/read seconds say which share
#   moved, and with BURN_FUSION_LOG=basic the -process.txt lines end with the explorations so far)
#   bench/gpu/v2.sh decoder SECONDS [NAME]    the autoencoder's decoder alone, its encoder frozen,
#                                             on 128 px crops, in NAME's weights (default: the
#                                             embedded default model; dit-start: the chain
#                                             file): the transformer stays valid and draws
#                                             with the better decoder (BENCHMARKS.md fifteenth
#                                             session: the autoencoder's floor is 1.77x);
#                                             ADVERSARIAL=W adds a patch critic of weight W
#                                             (run decoder-adversarialW)
#   bench/gpu/v2.sh guided SECONDS            guidance distilled (issue 21) from the chain file's
#                                             transformer, which it starts from: one evaluation
#                                             told the weight gives the teacher's guided velocity
#   bench/gpu/v2.sh steps SECONDS             steps distilled (issue 21) from TEACHER's weights,
#                                             which it starts from: guided (the default, carried
#                                             as .carry/guided.weights.xz), dit-start (the
#                                             chain file, its guidance by CFG) or default (the
#                                             embedded default model, int8): one evaluation
#                                             told the step jumps as the teacher's guided
#                                             sampler does in five; INIT=W continues the
#                                             student W instead (carried, e.g.
#                                             .carry/student.weights.xz becomes
#                                             target/v2/student.weights)
#   bench/gpu/v2.sh sheet NAME                the room types x styles sheet of NAME's weights
#   bench/gpu/v2.sh eval NAME...              `designer eval` of the NAMEs' weights at 256 px,
#                                             judged by one classifier, the default protocol (100
#                                             renders per pair train the classifier, 10 test it,
#                                             4 designs per pair, 200 photos restyled); NAME-int8
#                                             is NAME's weights exported as int8 first;
#                                             dit-start and default are always there;
#                                             EVAL_ARGS='...' adds `designer eval` flags
#   bench/gpu/v2.sh times NAME                generation time on the GPU at 256 px, 4 designs:
#                                             plain, keeping a photo's layout, its colours
#   bench/gpu/v2.sh bring NAME                NAME's weights (f16) to $OUT, in parts under 16 MB
#   bench/gpu/v2.sh cache                     the autotune cache to $OUT
#   bench/gpu/v2.sh pack NAME                 the logs and metrics to $OUT/NAME.tar.gz
# It expects .carry/designer-gpu.xz (`cargo build --release -p designer-cli --features gpu`,
# stripped, `xz -6`: 25 MB), .carry/catalog.tar.xz (made here by `designer scenes --subset S`, then
# `for f in S/*.sh3f; do d=x/$(basename $f .sh3f); mkdir -p $d; unzip -q $f -d $d; done;
# tar -C x -cf - . | xz -9e > .carry/catalog.tar.xz`, 2.5 minutes: its .sh3f files unpacked and
# packed again with xz: 24 MB instead of 34) and .gl/*.deb: the Vulkan loader and the GL
# vendor libraries (libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2, `apt-get
# download`, 0.4 MB; without libEGL the NVIDIA driver's Vulkan ICD does not load, and burn finds
# no adapter). `dpkg -x` into / does not outlast a call, so every call carries .gl and starts
# with `bench/gpu/v2.sh setup`, which unpacks what came with it. burn's autotune
# choices for these networks on the H200 and the H100 are committed (bench/gpu/autotune.tar.gz,
# from `cache`; the H100's run started from the H200's and kept every entry): a fresh machine
# that has them starts training in about a minute instead of five.
# The chained run: the transformer's latest weights are committed as
# bench/gpu/chain/dit-256-f16.weights.xz (f16, 21 MB, its autoencoder inside). A call's tree and
# carried files share 64 MiB, so with them in the tree a call carries one of the two 24 MB files:
# `setup` carrying .carry/designer-gpu.xz and .gl, then back to back `setup; chain SECONDS`
# carrying .carry/catalog.tar.xz and .gl, then calls carrying .gl alone; `bring dit` and commit
# its parts, xz'd, as the next chain file. Weights of other runs travel as
# .carry/NAME.weights.xz (the f16 parts `bring` returns, joined and xz'd) and `setup` makes
# them NAME's: `steps` carries .carry/guided.weights.xz beside .carry/designer-gpu.xz, with
# docs/scenes.png and the chain file moved out of the tree for that call (64 MiB in all).
set -euo pipefail
OUT=${OUT:-target/v2/out}
WORK=target/v2
LOGS=$WORK/logs
mkdir -p "$OUT" "$WORK" "$LOGS"
DESIGNER=$WORK/designer
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export CUBECL_AUTOTUNE_LEVEL=minimal
SIZE=256

train() { # name seconds batch lr [designer train flags...]
  local name=$1 seconds=$2 batch=$3 lr=$4
  shift 4
  # What the GPU and the process do while it trains (the step rate falls within a process,
  # BENCHMARKS.md): clocks, temperature, power, memory, and the trainer's memory and CPU.
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,temperature.gpu,power.draw,utilization.gpu,memory.used,clocks_throttle_reasons.active \
    --format=csv -l 15 >"$LOGS/$name-gpu.csv" 2>/dev/null &
  local gpu_log=$!
  # With BURN_FUSION_LOG=basic, burn logs a line per fusion exploration: their running count
  # closes each line (how many a step makes, and whether they stop).
  (while sleep 15; do
    echo "$(ps -C designer -o etimes=,rss=,pcpu=,nlwp=) $(grep -c 'selected .*strategy' "$LOGS/$name.log" || true)" >>"$LOGS/$name-process.txt"
  done) &
  local process_log=$!
  trap 'kill $gpu_log $process_log 2>/dev/null || true' RETURN
  "$DESIGNER" train --catalog "$WORK/catalog" --pool 12000 --render-threads "${RENDER_THREADS:-8}" \
    --backend vulkan --float mixed \
    --size $SIZE --batch-size "$batch" --learning-rate "$lr" --epochs 400 --steps-per-epoch 250 \
    --time-limit "$seconds" --checkpoint-dir "$WORK/$name-ckpt" --out "$WORK/$name.weights" \
    --metrics "$LOGS/$name.jsonl" --name "designer-v2-$name-256" "$@" 2>>"$LOGS/$name.log" >/dev/null \
    || { tail -20 "$LOGS/$name.log"; exit 1; }
  tail -3 "$LOGS/$name.log"
  python3 bench/gpu/steady.py "$LOGS/$name.jsonl" "$batch" || true
}

# materialise NAME: the two weights every machine has, as $WORK/NAME.weights: dit-start (the
# chain file, f16: the CFG teacher) and default (the embedded default model, int8)
materialise() {
  local file=$WORK/$1.weights
  if [ -f "$file" ]; then return; fi
  case $1 in
    dit-start) python3 -c "import lzma,shutil,sys;shutil.copyfileobj(lzma.open('bench/gpu/chain/dit-256-f16.weights.xz'),open(sys.argv[1],'wb'))" "$file" ;;
    default) cp core/weights/designer-256.weights "$file" ;;
  esac
}

case "${1:-}" in
  setup)
    for deb in .gl/*.deb; do if [ -f "$deb" ]; then dpkg -x "$deb" /; fi; done
    ldconfig
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOGS/gpu.txt"
    # Each carried file is unpacked when it came with this call: a machine held across calls
    # keeps what an earlier call unpacked (see "The chained run" above).
    if [ -f .carry/designer-gpu.xz ]; then
      python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.carry/designer-gpu.xz'),open('$DESIGNER','wb'))"
      chmod +x "$DESIGNER"
    fi
    # The catalog's .sh3f files are zip archives: packed again, without compression (the
    # engine reads either).
    [ -f .carry/catalog.tar.xz ] && python3 - "$WORK" <<'EOF'
import pathlib, sys, tarfile, zipfile
work = pathlib.Path(sys.argv[1])
tarfile.open('.carry/catalog.tar.xz').extractall(work / 'catalog-files')
(work / 'catalog').mkdir(exist_ok=True)
for library in sorted((work / 'catalog-files').iterdir()):
    with zipfile.ZipFile(work / 'catalog' / (library.name + '.sh3f'), 'w', zipfile.ZIP_STORED) as z:
        for f in sorted(library.rglob('*')):
            if f.is_file():
                z.write(f, f.relative_to(library).as_posix())
EOF
    # Weights from an earlier session, carried as .carry/NAME.weights.xz, become NAME's.
    for carried in .carry/*.weights.xz; do
      if [ -f "$carried" ]; then
        python3 -c "import lzma,shutil,sys;shutil.copyfileobj(lzma.open(sys.argv[1]),open(sys.argv[2],'wb'))" \
          "$carried" "$WORK/$(basename "$carried" .xz)"
      fi
    done
    if [ -f bench/gpu/autotune.tar.gz ]; then tar -xzf bench/gpu/autotune.tar.gz; fi
    ;;
  autoencoder)
    train autoencoder "$2" 128 1e-3 --network unet-v2-latent --objective autoencoder --crop 128 \
      --resume ${3:+--init "$3"}
    ;;
  pixels)
    train pixels "$2" 32 3e-4 --network unet-v2-pixels
    ;;
  latent)
    train latent "$2" 128 3e-4 --init "${3:-$WORK/autoencoder.weights}" --resume \
      --latent-reuse "${REUSE:-1}"
    ;;
  dit)
    if [ -n "${INIT:-}" ]; then from=(--init "$INIT"); else
      from=(--network dit-latent --autoencoder "${3:-$WORK/autoencoder.weights}"); fi
    train dit "$2" "${BATCH:-128}" 3e-4 "${from[@]}" --resume --latent-reuse "${REUSE:-1}" ${LAYOUT:+--layout}
    ;;
  chain) # chain SECONDS: the transformer from the committed chain file, further
    rm -f "$WORK/dit-start.weights"
    materialise dit-start
    # PARTS=N trains in N processes one after another, each resuming the last one's
    # checkpoint: a process's step rate falls as it runs and a new one starts fast again.
    parts=${PARTS:-1}
    for _ in $(seq "$parts"); do
      REUSE=${REUSE:-4} LAYOUT=1 INIT=$WORK/dit-start.weights "$0" dit $(($2 / parts))
    done
    ;;
  decoder) # decoder SECONDS [NAME]: NAME's decoder (default: the default model's) further;
    # ADVERSARIAL=W learns against a patch critic of weight W, as the run decoder-adversarialW
    materialise "${3:-default}"
    train "decoder${ADVERSARIAL:+-adversarial$ADVERSARIAL}" "$2" "${BATCH:-128}" "${LR:-3e-4}" \
      --init "$WORK/${3:-default}.weights" --resume --objective decoder --crop 128 \
      ${ADVERSARIAL:+--adversarial "$ADVERSARIAL"}
    ;;
  guided) # guided SECONDS: guidance distilled from the chain file's transformer (issue 21)
    materialise dit-start
    train guided "$2" "${BATCH:-128}" 3e-4 --init "$WORK/dit-start.weights" --resume \
      --objective guidance --teacher "$WORK/dit-start.weights" --latent-reuse "${REUSE:-4}"
    ;;
  steps) # steps SECONDS: steps distilled from TEACHER's weights (issue 21), which the student
    # starts from: guided (default; carried), dit-start (the chain file, guided by CFG) or
    # default (the embedded default model, core/weights/designer-256.weights)
    materialise "${TEACHER:-guided}"
    teacher=$WORK/${TEACHER:-guided}.weights
    # INIT=W continues an earlier student (W its weights, e.g. carried as
    # .carry/student.weights.xz) where no checkpoint of this machine's is there to resume
    # LR=X sets the peak learning rate (a continued student anneals at a lower one)
    train steps "$2" "${BATCH:-128}" "${LR:-3e-4}" --init "${INIT:-$teacher}" --resume \
      --objective steps --teacher "$teacher" --latent-reuse "${REUSE:-4}"
    ;;
  sheet)
    "$DESIGNER" sheet --backend vulkan --size $SIZE --weights "$WORK/$2.weights" --out "$OUT/$2-sheet.png" 2>&1 | tail -2
    ;;
  eval) # eval NAME...: the weights judged by one classifier on the same renders; NAME-int8
    # is NAME's weights exported as int8 first
    shift
    weights=()
    for name in "$@"; do
      materialise "$name"
      if [[ $name == *-int8 && ! -f $WORK/$name.weights ]]; then
        "$DESIGNER" export --weights "$WORK/${name%-int8}.weights" --precision int8 --out "$WORK/$name.weights" 2>/dev/null
      fi
      if [ ${#weights[@]} = 0 ]; then weights+=(--weights); else weights+=(--also); fi
      weights+=("$WORK/$name.weights")
    done
    all=$(IFS=+; echo "$*")
    # EVAL_ARGS: more `designer eval` flags (--restyle-photos 0 where restyling is known)
    # shellcheck disable=SC2086
    "$DESIGNER" eval --catalog "$WORK/catalog" --backend vulkan --size $SIZE --json ${EVAL_ARGS:-} \
      "${weights[@]}" >"$LOGS/$all-eval.json" 2>"$LOGS/$all-eval.log" \
      || tail -5 "$LOGS/$all-eval.log"
    tail -4 "$LOGS/$all-eval.log"
    cat "$LOGS/$all-eval.json"
    ;;
  times) # times NAME: each request 4 times in one process; the first includes kernel tuning
    "$DESIGNER" scenes --catalog "$WORK/catalog" --count 1 --size $SIZE --seed 5 --out "$WORK/photo" >/dev/null 2>&1
    photo=$(find "$WORK/photo" -name "*.png" | head -1)
    for keep in none layout colours; do
      if [ $keep = none ]; then with=(); else with=(--photo "$photo" --keep $keep); fi
      echo "== $keep"
      "$DESIGNER" generate --backend vulkan --size $SIZE --weights "$WORK/$2.weights" --repeat 4 \
        --out "$WORK/times-$keep" "${with[@]}" 2>&1 | grep -E "^run|designs" || true
    done | tee "$LOGS/$2-times.txt"
    ;;
  bring)
    "$DESIGNER" export --weights "$WORK/$2.weights" --precision f16 --out "$WORK/$2-f16.weights" 2>/dev/null
    split -b 15M -d "$WORK/$2-f16.weights" "$OUT/$2-f16.weights.part"
    "$DESIGNER" info --weights "$WORK/$2.weights" >"$OUT/$2-info.txt" 2>&1 || true
    ls -la "$OUT"
    ;;
  cache)
    if [ -d target/environment ]; then tar -czf "$OUT/autotune.tar.gz" target/environment; fi
    ls -la "$OUT"
    ;;
  profile) # profile STAGE SECONDS [ARGS]: burn's per-kernel profile of a stage's steps
    shift
    printf '[profiling.logger]\nlevel = "basic"\nfile = "%s"\nappend = false\n' "$LOGS/profile-$1.log" > cubecl.toml
    "$0" "$@" >/dev/null || true
    rm cubecl.toml
    python3 bench/gpu/kernels.py "$LOGS/profile-$1.log" | tee "$LOGS/profile-$1.md"
    gzip -f "$LOGS/profile-$1.log"
    ;;
  pack)
    tar -czf "$OUT/$2.tar.gz" -C "$LOGS" .
    ls -la "$OUT"
    ;;
  *)
    sed -n '2,/v2.sh pack/p' "$0"
    exit 1
    ;;
esac
