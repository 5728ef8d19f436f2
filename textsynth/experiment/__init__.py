"""The text-infusion ablation: does training with textsynth's data keep text legible?"""

from textsynth.experiment.config import load_experiment_config
from textsynth.experiment.run import run

__all__ = ["load_experiment_config", "run"]
