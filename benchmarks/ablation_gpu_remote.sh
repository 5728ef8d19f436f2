#!/usr/bin/env bash
# The GPU half of pipelines/configs/ablation_gpu.yaml on a machine that has torch + CUDA but no
# OCR packages and no network (BENCHMARKS.md "Does the data help?" says how it was run):
#
#   here:   textsynth experiment --config pipelines/configs/ablation_gpu.yaml --out EXP --only data
#   there:  bash benchmarks/ablation_gpu_remote.sh EXP RESULTS   (trains every arm, reconstructs benches)
#   here:   unpack RESULTS/*.tar into EXP, then rerun the first command without --only
#
# Wheels for what the machine lacks (webdataset, braceexpand, platformdirs) may sit in .whl/.
set -euo pipefail
exp=${1:?experiment dir}; results=${2:?results dir}
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
python3 -m textsynth.cli experiment --config pipelines/configs/ablation_gpu.yaml --out "$exp" --only recon
mkdir -p "$results"
# one tar per training run (reconstructions + logs) and the stage markers; the reference
# models are cheap to redo anywhere, so neither their reconstructions nor their markers travel
for run in "$exp"/runs/*/; do
  name=$(basename "$run")
  tar cf "$results/$name.tar" -C "$exp" "recon/$name" "runs/$name/log.csv" "runs/$name/train.log"
done
tar cf "$results/stages.tar" -C "$exp" --exclude='recon--ref:*' _stages
ls -la "$results"
