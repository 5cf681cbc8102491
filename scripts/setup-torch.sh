#!/usr/bin/env bash
# Set-up of the PyTorch trainer (training/torch/): Debian's python3-torch (no pip registry needed) and
# OpenBLAS. Without OpenBLAS, Debian's torch runs its matrix products on the reference BLAS, several
# times slower. Idempotent; needs root or sudo and apt. Debian 12's python3-torch (1.13) is CPU-only:
# for CUDA see docs/training-torch.md (scripts/gpu-train-check.sh).
set -euo pipefail
PY=/usr/bin/python3
if $PY -c 'import torch' 2>/dev/null && [ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 -o -e /usr/lib/aarch64-linux-gnu/openblas-pthread/libblas.so.3 ]; then
  echo "python3-torch $($PY -c 'import torch; print(torch.__version__)') and OpenBLAS already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends python3-torch python3-numpy libopenblas0-pthread
$PY -c 'import torch, torch.distributed as d; print("torch", torch.__version__, "gloo", d.is_gloo_available(), "cuda", torch.cuda.is_available())'
