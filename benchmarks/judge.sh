#!/usr/bin/env bash
# Re-judge what the data does: the five question configs, one after the other, all forking
# from one cached base (the first trains it, the rest say "base KEY: reused"), then the README
# table "What the data does". Each experiment resumes where it stopped when rerun.
#
#   bash benchmarks/judge.sh [OUTROOT] [--quick]
#
# (a) infusion and documents vs general-only     pipelines/configs/ablation_cpu.yaml
# (b) document templates vs blocks               pipelines/configs/question_templates_cpu.yaml
# (c) synthetic dose 25 / 50 / 75% of the text   pipelines/configs/question_dose_cpu.yaml
# (d) the closed loop (--rounds 2) vs control    pipelines/configs/flywheel_cpu.yaml
# (e) realistic synthesis vs document templates  pipelines/configs/question_real_cpu.yaml
set -euo pipefail
root=${1:-out/judge}; quick=${2:-}
cd "$(dirname "$0")/.."
bin=$([ -x .venv/bin/textsynth ] && echo .venv/bin/ || true)   # the Makefile's venv, else PATH
ts=${bin}textsynth; py=${bin}python3
for q in a:ablation_cpu b:question_templates_cpu c:question_dose_cpu d:flywheel_cpu e:question_real_cpu; do
  t0=$(date +%s)
  $ts experiment --config "pipelines/configs/${q#*:}.yaml" --out "$root/q-${q%%:*}" $quick
  echo "judge: ($q) done in $(( $(date +%s) - t0 )) s" | tee -a "$root/times.log"
done
$py benchmarks/what_the_data_does.py "$root"/q-a "$root"/q-b "$root"/q-c "$root"/q-d "$root"/q-e | tee "$root/table.md"
