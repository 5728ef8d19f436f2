"""Ray Jobs entry point for synthesis.

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python pipelines/synth.py --config pipelines/configs/synth_en_zh.yaml --out DIR ...

Inside a job RAY_ADDRESS is set, so the job attaches to the cluster it was submitted to.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the uploaded working dir

from textsynth.cli import add_synth_args, config_overrides  # noqa: E402
from textsynth.config import load_config  # noqa: E402
from textsynth.synth import main_exit_code, run, summary  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_synth_args(parser)
    args = parser.parse_args()
    cfg = load_config(args.config, **config_overrides(args))
    result = run(cfg, args.out, args.num_samples, args.samples_per_shard, job=args.job,
                 address=args.address,
                 task_timeout=args.task_timeout, overwrite=args.overwrite,
                 num_cpus=args.num_cpus, progress=not args.quiet)
    print(summary(result, args.out))
    sys.exit(main_exit_code(result))
