#!/usr/bin/env bash
# GPU check of the PyTorch trainer: trains the Games model on CUDA for a fixed time and prints seconds
# per epoch (and validation figures), then writes the artifact. Prepared for a machine with an NVIDIA
# GPU and a CUDA build of PyTorch (Debian 12's python3-torch is CPU-only: use the machine's own torch,
# e.g. PYTHON=/opt/conda/bin/python). Not part of CI.
#
#   scripts/gpu-train-check.sh [DATA] [SECONDS] [extra train.py flags...]
#   defaults: ../shared/data/amazon-games/games.txt, 240 s; GPUS=N for N GPUs (torchrun + NCCL)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/amazon-games/games.txt}
SECONDS_LIMIT=${2:-240}
shift $(( $# > 2 ? 2 : $# )) || true
PY=${PYTHON:-python3}
GPUS=${GPUS:-1}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu: a dry run of this script on a machine without a GPU
OUT=${OUT:-tmp/gpu-check}
[ "$DEVICE" = cuda ] && $PY - <<'PYEOF'
import torch, sys
if not torch.cuda.is_available():
    sys.exit(f"no CUDA: torch {torch.__version__} (built with CUDA {torch.version.cuda}) sees no GPU; set PYTHON to a CUDA build of PyTorch")
print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPU", torch.cuda.get_device_name(0), "count", torch.cuda.device_count())
PYEOF
# The bundled model's recipe (models/games-sasrec/README.md); validation each 4 epochs on 5,000 users.
RECIPE=(--negatives 2048 --sse 0.1 --lr-schedule cosine --epochs 32 --eval-every 4 --patience 0 --device "$DEVICE" --time-limit "$SECONDS_LIMIT")
if [ "$GPUS" -gt 1 ]; then
  $PY -m torch.distributed.run --standalone --redirects 1 --tee 1 --nproc_per_node "$GPUS" training/torch/train.py --data "$DATA" --format pairs --out "$OUT" "${RECIPE[@]}" "$@"
else
  $PY training/torch/train.py --data "$DATA" --format pairs --out "$OUT" "${RECIPE[@]}" "$@"
fi
$PY - "$OUT/training.json" <<'PYEOF'
import json, sys
t = json.load(open(sys.argv[1]))
s = [e["seconds"] for e in t["log"]]
print(f"GPU check: {t['machine']['gpu'] or 'CPU'} x{t['machine']['processes']}, {len(s)} epochs in {sum(s):.1f} s, "
      f"seconds/epoch first {s[0]:.2f}, median {sorted(s)[len(s)//2]:.2f}; steps {t['steps']}")
v = [e for e in t["log"] if "valid" in e]
if v:
    print("last validation:", v[-1]["valid"])
PYEOF
echo "evaluate: npm run eval -- --model $OUT --data $DATA --format pairs --protocol full   (and --protocol sampled-100)"
