"""Ray Jobs entry point for curation.

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python pipelines/curate.py --config pipelines/configs/curate_docs.yaml \\
        --input /shared/pdfs /shared/screenshots --out /shared/out/docs

Inputs and the output must be visible to every node (a shared filesystem; the output may
also be an object-store URI). Inside a job RAY_ADDRESS is set, so the job attaches to the
cluster it was submitted to.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the uploaded working dir

from textsynth.cli import add_curate_args, config_overrides  # noqa: E402
from textsynth.curation.config import load_curate_config  # noqa: E402
from textsynth.curation.job import main_exit_code, run, summary  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_curate_args(parser)
    args = parser.parse_args()
    cfg = load_curate_config(args.config, **config_overrides(args))
    result = run(cfg, args.input, args.out, dataset=args.job, address=args.address,
                 task_timeout=args.task_timeout, overwrite=args.overwrite,
                 num_cpus=args.num_cpus, progress=not args.quiet)
    print(summary(result, args.out))
    sys.exit(main_exit_code(result))
