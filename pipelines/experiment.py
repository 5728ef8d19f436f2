"""Ray Jobs entry point for the text-infusion ablation (`textsynth experiment`).

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python pipelines/experiment.py --config pipelines/configs/ablation_cpu.yaml \\
        --out /shared/ablation

Inside a job RAY_ADDRESS is set, so the synth and curate stages run on the cluster the job
was submitted to; the training runs and the evaluation run in the job's driver process (one
machine; on a GPU node they use its GPU). Give --out as an absolute path on storage the
cluster's nodes see. Rerunning the same command resumes at the first unfinished stage.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the uploaded working dir

from textsynth.cli import _cmd_experiment, add_experiment_args  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_experiment_args(parser)
    sys.exit(_cmd_experiment(parser.parse_args()))
