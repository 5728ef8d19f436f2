#!/usr/bin/env bash
# The GPU half of pipelines/configs/ablation_gpu.yaml in one go, on a machine that has torch +
# CUDA but maybe no OCR packages and no network (BENCHMARKS.md "Does the data help?"):
#
#   here:   textsynth experiment --config pipelines/configs/ablation_gpu.yaml --out EXP --only data
#   there:  bash benchmarks/ablation_gpu_remote.sh EXP RESULTS
#           (the step's MFU, then the base and every arm trained, every bench reconstructed;
#            RESULTS/summary.json: wall time, images/s, peak GPU memory per run)
#   here:   unpack RESULTS/*.tar into EXP, then rerun the first command without --only
#
#   dry run on a CPU machine (the same script end to end, with the data stage, a tiny model and
#   --quick step counts; it checks the plumbing, not the figures):
#           bash benchmarks/ablation_gpu_remote.sh EXP RESULTS --dry-run
#
# Wheels for what the machine lacks (webdataset, braceexpand, platformdirs) may sit in .whl/.
set -euo pipefail
exp=${1:?experiment dir}; results=${2:?results dir}; mode=${3:-}
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
cfg=(--config pipelines/configs/ablation_gpu.yaml --out "$exp")
mkdir -p "$results"
if [ "$mode" = "--dry-run" ]; then
  # the GPU config with a tiny CPU trainer block (train is replaced as a whole), --quick steps
  cat > "$results/dry-run.yaml" <<YAML
extends: pipelines/configs/ablation_gpu.yaml
train:
  model: {name: tiny}
  loss: {l1: 1.0, lpips: {weight: 0.0}, align: {weight: 0.0}}
  data: {resolution: 64, batch_size: 4, num_workers: 1, shuffle_buffer: 50}
  train: {max_steps: 300, lr: 1.0e-3, warmup_steps: 30, log_every: 10, sample_every: 0,
          ckpt_every: 300, cpu_threads: 1}
base: {cache_dir: $exp/base-cache}
YAML
  cfg=(--config "$results/dry-run.yaml" --out "$exp" --quick)
  $py -m textsynth.cli experiment "${cfg[@]}" --only data
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  # the trainer's step alone (old vs new, bf16): images/s and MFU for BENCHMARKS.md
  $py benchmarks/vae_step.py --compare --device cuda --preset f16c64 --resolution 256 --batch 16 \
    --rounds 3 --steps 5 | tee "$results/vae_step.md"
fi
$py -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
t0=$(date +%s)
$py -m textsynth.cli experiment "${cfg[@]}" --only recon
wall=$(( $(date +%s) - t0 ))
# one tar per training run (reconstructions + logs) and the stage markers; the reference
# models are cheap to redo anywhere, so neither their reconstructions nor their markers travel
for run in "$exp"/runs/*/; do
  name=$(basename "$run")
  tar cf "$results/$name.tar" -C "$exp" "recon/$name" "runs/$name/log.csv" "runs/$name/train.log"
done
tar cf "$results/stages.tar" -C "$exp" --exclude='recon--ref:*' _stages
$py - "$exp" "$wall" > "$results/summary.json" <<'EOF'
import json, sys
from pathlib import Path

exp, wall = Path(sys.argv[1]), int(sys.argv[2])
runs = {}
for p in sorted((exp / "_stages").glob("train--*.json")):
    r = json.loads(p.read_text())
    runs[p.stem.removeprefix("train--")] = {k: r.get(k) for k in
                                           ("steps", "images", "train_seconds", "images_per_s", "peak_gpu_memory_gib", "gpu")}
base = exp / "_stages" / "base.json"
print(json.dumps({"train_and_recon_seconds": wall, "base": json.loads(base.read_text()) if base.is_file() else None,
                  "runs": runs}, indent=1))
EOF
cat "$results/summary.json"
ls -la "$results"
