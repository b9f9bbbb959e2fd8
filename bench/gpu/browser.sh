#!/bin/bash
# The site in Chromium on the GPU machine's NVIDIA GPU through WebGPU (issue 21, point 5), from
# the repository root. That machine has no browser, no display and no network: this machine's
# Debian Chromium, the libraries it links that a CUDA image lacks, a font, Xvfb (a virtual X
# display), node and playwright-core travel as one xz archive (~132 MB), in parts over calls
# made back to back (a call carries 64 MiB with the tree), and are unpacked away from / (under
# /tmp/browser).
#   bench/gpu/browser.sh pack [MB]     here: the archive, split into .carry/browser.part-NN of
#                                      MB each (default 44, what fits beside the whole tree)
#   bench/gpu/browser.sh stash         there: keeps the parts this call carried on the machine
#   bench/gpu/browser.sh measure [RUNS]  there: joins and unpacks the parts; which adapter each
#                                      candidate flag set gives WebGPU (bench/gpu/adapter.mjs),
#                                      in a window on Xvfb; then
#                                      tests/browser/measure.mjs with the first that gives the
#                                      GPU: the default request's first-run and warm times,
#                                      page-ready times; to $OUT/browser.md
# measure needs www/pkg (`make web`), carried, or packed to travel in a third of the room
# (`tar -cJf .carry/pkg.tar.xz www/pkg`, 3.5 MB), and .gl/*.deb (the GL vendor libraries, without
# which the NVIDIA driver's Vulkan ICD does not load; see v2.sh).
#
# What headless Chromium got on an H100 machine (BENCHMARKS.md, thirteenth session): WebGPU
# offered SwiftShader alone under every flag set tried; with the Vulkan feature, Chromium's own
# Vulkan instance failed (-7, an extension missing) on the NVIDIA driver alone, and ANGLE on
# Vulkan crashed the GPU process; ANGLE on EGL wanted an X display. Hence the window on Xvfb,
# tried on an H200 machine in the fourteenth session: no adapter under six flag sets (the GPU
# process exits: Xvfb has no GLX for NVIDIA, which needs the NVIDIA X driver the image lacks),
# SwiftShader under ANGLE on Vulkan. Kept for a machine with a display stack.
set -euo pipefail
OUT=${OUT:-target/browser-out}
BUNDLE=/tmp/browser
PARTS=/tmp/browser-parts

# copy_linked DIR BINARY...: the shared libraries the binaries link (as ldd resolves them, so
# LD_LIBRARY_PATH counts) into DIR, but the C and C++ runtimes: the GPU machine's own are newer.
copy_linked() {
  local dir=$1
  shift
  ldd "$@" | awk '$3 ~ /^\// {print $3}' |
    grep -Ev '/(ld-linux|libc|libm|libpthread|libdl|librt|libresolv|libstdc\+\+|libgcc_s)[.-]' |
    sort -u | xargs -I{} cp -nL {} "$dir/"
}

case "${1:-}" in
  pack)
    scratch=$(mktemp -d)
    mkdir -p "$scratch/chromium/locales" "$scratch/lib" "$scratch/node_modules"
    # Chromium without its Vulkan validation layer and mock driver (22 MB) and other locales.
    (cd /usr/lib/chromium && cp chrome_100_percent.pak chrome_crashpad_handler chromium icudtl.dat \
      libEGL.so libGLESv2.so libvulkan.so.1 libvk_swiftshader.so vk_swiftshader_icd.json \
      resources.pak snapshot_blob.bin v8_context_snapshot.bin "$scratch/chromium/" &&
      cp locales/en-US.pak "$scratch/chromium/locales/")
    # What it links, and NSS's modules, which it opens at run time.
    copy_linked "$scratch/lib" /usr/lib/chromium/chromium
    cp -rL /usr/lib/x86_64-linux-gnu/nss "$scratch/lib/"
    # The CUDA image has no fonts, and Chromium aborts without one (see measure).
    mkdir -p "$scratch/fonts" && cp /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf "$scratch/fonts/"
    # Xvfb and the keymap compiler it runs (its own folder tree: bin, the keymaps), from
    # Debian's packages; what they link goes with Chromium's libraries.
    debs=$(mktemp -d)
    (cd "$debs" && apt-get download xvfb x11-xkb-utils xkb-data libxfont2 libxkbfile1 libfontenc1 >/dev/null)
    for deb in "$debs"/*.deb; do dpkg -x "$deb" "$debs/root"; done
    mkdir -p "$scratch/xvfb/bin" "$scratch/xvfb/xkb"
    cp "$debs/root/usr/bin/Xvfb" "$debs/root/usr/bin/xkbcomp" "$scratch/xvfb/bin/"
    cp -r "$debs/root/usr/share/X11/xkb/." "$scratch/xvfb/xkb/"
    cp -L "$debs"/root/usr/lib/x86_64-linux-gnu/*.so.* "$scratch/lib/"
    LD_LIBRARY_PATH=$debs/root/usr/lib/x86_64-linux-gnu copy_linked "$scratch/lib" "$scratch"/xvfb/bin/*
    rm -rf "$debs"
    cp "$(command -v node)" "$scratch/"
    cp -r node_modules/playwright-core "$scratch/node_modules/"
    mkdir -p .carry
    rm -f .carry/browser.part-*
    tar -C "$scratch" -cf - . | xz -9 -T0 | split -b "${2:-44}M" -d - .carry/browser.part-
    rm -rf "$scratch"
    ls -l .carry/browser.part-*
    ;;
  stash)
    mkdir -p "$PARTS"
    cp .carry/browser.part-* "$PARTS/"
    ls -l "$PARTS"
    ;;
  measure)
    if ls .carry/browser.part-* >/dev/null 2>&1; then "$0" stash; fi
    for deb in .gl/*.deb; do dpkg -x "$deb" /; done
    ldconfig
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
    rm -rf "$BUNDLE" && mkdir -p "$BUNDLE" "$OUT"
    cat "$PARTS"/browser.part-* | xz -d | tar -C "$BUNDLE" -xf -
    # Chromium aborts where fontconfig finds no font (Skia: "Not implemented"): the packed
    # one (or, for parts packed without it, .carry/fonts), and a configuration naming it.
    mkdir -p "$BUNDLE/fonts"
    if [ -d .carry/fonts ]; then cp .carry/fonts/* "$BUNDLE/fonts/"; fi
    printf '<?xml version="1.0"?>\n<fontconfig><dir>%s</dir><cachedir>/tmp/fontconfig</cachedir></fontconfig>\n' \
      "$BUNDLE/fonts" >"$BUNDLE/fonts/fonts.conf"
    cat >"$BUNDLE/chromium.sh" <<EOF
#!/bin/sh
export FONTCONFIG_FILE=$BUNDLE/fonts/fonts.conf
export LD_LIBRARY_PATH=$BUNDLE/lib:$BUNDLE/lib/nss
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
exec $BUNDLE/chromium/chromium "\$@" 2>>$(realpath "$OUT")/chromium.log
EOF
    chmod +x "$BUNDLE/chromium.sh"
    export CHROMIUM=$BUNDLE/chromium.sh
    [ -e node_modules ] || ln -s "$BUNDLE/node_modules" node_modules
    if [ -f .carry/pkg.tar.xz ]; then tar -xJf .carry/pkg.tar.xz; fi
    # The site's model, as `make web` places it.
    model=www/$(sed -n 's/.*"weights": *"\([^"]*\)".*/\1/p' www/config.json)
    # (or, where the tree came without it to leave room for a part, v2.sh's carried copy)
    default=core/weights/designer-256.weights
    [ -f "$default" ] || default=target/v2/int7.weights
    mkdir -p "$(dirname "$model")" && cp "$default" "$model"
    # A virtual X display for the window runs; the server runs its keymap compiler from
    # /usr/bin, where the machine has none.
    [ -e /usr/bin/xkbcomp ] || ln -s "$BUNDLE/xvfb/bin/xkbcomp" /usr/bin/xkbcomp
    LD_LIBRARY_PATH=$BUNDLE/lib setsid "$BUNDLE/xvfb/bin/Xvfb" :99 -screen 0 1280x800x24 -nolisten tcp \
      -xkbdir "$BUNDLE/xvfb/xkb" >"$OUT/xvfb.log" 2>&1 &
    sleep 2
    export DISPLAY=:99 __GLX_VENDOR_LIBRARY_NAME=nvidia \
      __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    # Headless, every flag set gave SwiftShader (thirteenth session): only windows are probed,
    # so that the probes and the measurement fit one call's 600 s.
    window=(
      ''
      '--ignore-gpu-blocklist'
      '--ignore-gpu-blocklist --enable-features=Vulkan'
      '--ignore-gpu-blocklist --enable-features=Vulkan --use-angle=vulkan'
      '--ignore-gpu-blocklist --enable-features=Vulkan --use-vulkan=native'
      '--ignore-gpu-blocklist --enable-features=Vulkan,DefaultANGLEVulkan,VulkanFromANGLE --use-angle=vulkan'
      '--ignore-gpu-blocklist --use-angle=gl'
    )
    node=$(command -v node || echo "$BUNDLE/node")
    { CHROMIUM_WINDOW=1 timeout 150 "$node" bench/gpu/adapter.mjs "${window[@]}" 2>&1 || true; } |
      sed 's/^/window: /' | tee "$OUT/adapters.txt"
    gpu=$(grep ' => ' "$OUT/adapters.txt" | grep -viE 'swiftshader|no adapter|failed' | head -1) || true
    if [ -z "$gpu" ]; then
      echo "no flag set gave WebGPU the GPU" >&2
      exit 1
    fi
    if [[ $gpu == window:* ]]; then export CHROMIUM_WINDOW=1; gpu=${gpu#window: }; fi
    flags=$(echo "$gpu" | sed 's/ => .*//; s/^(none)$//')
    echo "measuring with: ${flags:-(no extra flags)}${CHROMIUM_WINDOW:+, in a window}"
    CHROMIUM_WEBGPU_FLAGS=$flags timeout 360 "$node" tests/browser/measure.mjs \
      --runs "${2:-3}" --only webgpu 2>&1 | tee "$OUT/browser.md"
    ;;
  *)
    sed -n '2,/^#$/p' "$0"
    exit 1
    ;;
esac
