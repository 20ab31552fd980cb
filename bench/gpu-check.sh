#!/usr/bin/env bash
# GPU check (bench/gpu-check.ts): the WebGPU adapter and limits, BEiT-3 base/large
# ViTDet forward at 1024², one base Mask R-CNN training step with its peak GPU memory,
# base Mask R-CNN inference on onnxruntime's WebGPU provider.
#
#   bench/gpu-check.sh [options]   run it (options: see bench/gpu-check.ts)
#   bench/gpu-check.sh --pack      write .bench/gpu-bundle/: the check as one JavaScript
#                                  file, Dawn's linux-x64 binary, the Vulkan loader and
#                                  onnxruntime-node's linux-x64 build (xz-compressed,
#                                  unpacked on first use), for a machine with no
#                                  node_modules and no network (about 40 MB; copy it
#                                  with the tree)
#
# Where node_modules is missing the bundle is used. Before running, the Vulkan set-up is
# checked and what is missing is said: the loader (libvulkan.so.1) and a driver (ICD).
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=.bench/gpu-bundle

if [ "${1:-}" = "--pack" ]; then
  [ -x node_modules/.bin/esbuild ] || { echo "gpu-check --pack: needs node_modules (run npm ci first)" >&2; exit 2; }
  rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/node_modules/webgpu/dist/linux-x64" "$BUNDLE/lib"
  # Everything but Dawn in one file; the optional native backends stay out (never loaded here).
  node_modules/.bin/esbuild bench/gpu-check.ts --bundle --platform=node --format=esm --target=node20 \
    --outfile="$BUNDLE/gpu-check.mjs" --log-level=warning \
    --external:webgpu --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
    --external:@tensorflow/tfjs-backend-wasm --external:sharp --external:@napi-rs/canvas --external:onnxruntime-node \
    --banner:js="import { createRequire as __dkCreateRequire } from 'node:module'; const require = __dkCreateRequire(import.meta.url);"
  cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$BUNDLE/node_modules/webgpu/"
  cp node_modules/webgpu/dist/linux-x64/dawn.node "$BUNDLE/node_modules/webgpu/dist/linux-x64/"
  # The Vulkan loader, for a machine that has the GPU driver but not libvulkan1.
  for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
    if [ -e "$d/libvulkan.so.1" ]; then cp -L "$d/libvulkan.so.1" "$BUNDLE/lib/"; break; fi
  done
  [ -e "$BUNDLE/lib/libvulkan.so.1" ] || echo "gpu-check --pack: no libvulkan.so.1 here to carry (install libvulkan1 to include it)" >&2
  # onnxruntime-node (its JavaScript and linux-x64 library) compressed: 44 MB → 13 MB.
  tar -cJf "$BUNDLE/onnxruntime.tar.xz" node_modules/onnxruntime-node/package.json node_modules/onnxruntime-node/dist \
    node_modules/onnxruntime-node/bin/napi-v6/linux/x64 node_modules/onnxruntime-common
  du -sh "$BUNDLE" | sed 's/^/gpu-check --pack: wrote /'
  exit 0
fi

# --- The Vulkan set-up -------------------------------------------------------
has_loader() { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' || ls /usr/lib/x86_64-linux-gnu/libvulkan.so.1 /usr/lib64/libvulkan.so.1 >/dev/null 2>&1; }
if ! has_loader; then
  if [ -e "$BUNDLE/lib/libvulkan.so.1" ]; then
    echo "gpu-check: no Vulkan loader installed; using the one in $BUNDLE/lib" >&2
    export LD_LIBRARY_PATH="$PWD/$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  else
    echo "gpu-check: no Vulkan loader (libvulkan.so.1): install libvulkan1 (Debian/Ubuntu) or vulkan-loader, or pack one with bench/gpu-check.sh --pack" >&2
  fi
fi
ICDS=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json 2>/dev/null || true)
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] && ! printf '%s\n' "$ICDS" | grep -qi nvidia; then
  # NVIDIA's driver without its ICD file (containers given only the compute capability
  # often lack it): point the loader at the driver's Vulkan library directly.
  NV=$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia\.so\.0/ {print $NF; exit}')
  if [ -n "$NV" ]; then
    mkdir -p "$BUNDLE"
    printf '{"file_format_version":"1.0.1","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$NV" > "$BUNDLE/nvidia_icd.json"
    export VK_ICD_FILENAMES="$PWD/$BUNDLE/nvidia_icd.json"
    echo "gpu-check: no NVIDIA Vulkan ICD file; using $NV through $BUNDLE/nvidia_icd.json" >&2
  elif [ -e /dev/nvidiactl ] || command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu-check: an NVIDIA GPU is present but its Vulkan driver is not (no nvidia_icd.json, no libGLX_nvidia.so.0)." >&2
    echo "           In a container, enable the driver's graphics capability (NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics)." >&2
  fi
fi
echo "gpu-check: Vulkan drivers: $(for f in $ICDS; do printf '%s ' "$(basename "$f")"; done)${VK_ICD_FILENAMES:+(VK_ICD_FILENAMES=$VK_ICD_FILENAMES)}" >&2

# --- Run ----------------------------------------------------------------------
if [ -d node_modules/webgpu ] && [ -d node_modules/tsx ]; then
  exec node --conditions=source --import tsx bench/gpu-check.ts "$@"
elif [ -f "$BUNDLE/gpu-check.mjs" ]; then
  if [ -f "$BUNDLE/onnxruntime.tar.xz" ] && [ ! -d "$BUNDLE/node_modules/onnxruntime-node" ]; then
    tar -C "$BUNDLE" -xJf "$BUNDLE/onnxruntime.tar.xz" || echo "gpu-check: could not unpack onnxruntime-node (is xz installed?); its WebGPU row is skipped" >&2
  fi
  exec node "$BUNDLE/gpu-check.mjs" "$@"
else
  echo "gpu-check: neither node_modules nor $BUNDLE/gpu-check.mjs is here: run npm ci, or bench/gpu-check.sh --pack on a machine that has them and copy $BUNDLE along" >&2
  exit 2
fi
