"""Ray Jobs entry point for the VAE trainer (Ray Train TorchTrainer, DDP over the workers).

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python pipelines/train_vae.py --config pipelines/configs/vae_f16c64_text_infusion.yaml \\
        --out /shared/runs/vae-f16c64 --workers 8 \\
        --set data.sources.synth.paths='[/shared/synth]' --set data.sources.doc.paths='[/shared/curate]'

Inside a job RAY_ADDRESS is set, so the job attaches to the cluster it was submitted to and
always trains through Ray Train (one worker per GPU when the cluster has enough GPUs). Give
--out and the source paths as absolute paths on storage every node sees: the working dir is
a copy, and every rank reads checkpoints from --out when resuming.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the uploaded working dir

from textsynth.cli import add_train_args  # noqa: E402
from textsynth.config import parse_sets  # noqa: E402
from textsynth.vae.config import load_train_config  # noqa: E402
from textsynth.vae.train import run, summary_line  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_args(parser)
    args = parser.parse_args()
    over = parse_sets(args.set)
    if args.max_steps is not None:
        over.setdefault("train", {})["max_steps"] = args.max_steps
    cfg = load_train_config(args.config, over)
    out = args.out or str(Path("out") / "train" / Path(args.config or "vae_f16c64_text_infusion").stem)
    result = run(cfg, out, resume=args.resume, workers=args.workers, use_ray=True, address=args.address)
    print(summary_line(result, out))
