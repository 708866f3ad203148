#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls this file): CPU tests of every crate,
# the model parity tests on wgpu through lavapipe (Vulkan on the CPU), and a compile check of
# the CUDA and wgpu builds so they cannot rot. Needs ../shared beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

# Vulkan on the CPU (Mesa lavapipe) for the wgpu tests.
if [ ! -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]; then
  echo "== installing mesa-vulkan-drivers (lavapipe)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -q mesa-vulkan-drivers libvulkan1 >/dev/null \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q mesa-vulkan-drivers libvulkan1 >/dev/null; }
fi

echo "== CPU tests (flex backend)"
cargo test --workspace --all-targets

echo "== model and fused BatchNorm kernel parity on wgpu (lavapipe)"
VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json \
  cargo test -p yolo-model --features wgpu --test onnx_parity --test pt_parity --test bn_act_parity wgpu

echo "== compile check: cuda and wgpu builds"
cargo check --workspace --all-targets --features wgpu,cuda
