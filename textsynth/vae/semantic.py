"""The semantic teacher for latent alignment: a middle layer of DINOv2 (report §4.2).

``Teacher(model, layer, resolution)`` loads ``transformers.Dinov2Model.from_pretrained``
from a local directory or a hub name (e.g. ``facebook/dinov2-large``, 24 layers; the report
aligns to a single middle layer, 12 here by default). It maps images in [-1, 1] to the
patch features of hidden layer ``layer``, resized to the latent grid.

``model: random-tiny`` builds a 4-layer, 32-wide random DINOv2 through the same code (for
tests and CPU demos) and logs a loud WARNING: alignment to random features teaches nothing.
Nothing is downloaded unless ``model`` is a hub name not in the local Hugging Face cache.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger("textsynth.vae")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _load(model: str, resolution: int):
    from transformers import Dinov2Config, Dinov2Model

    if model == "random-tiny":
        log.warning("!" * 78)
        log.warning("SEMANTIC ALIGNMENT USES A TINY RANDOM DINOv2 (no pretrained weights): the "
                    "alignment loss is NOT semantic. Set loss.align.model to a DINOv2 dir or hub name")
        log.warning("!" * 78)
        cfg = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                           intermediate_size=64, patch_size=4, image_size=resolution)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return Dinov2Model(cfg), False
    try:
        return Dinov2Model.from_pretrained(model), True
    except Exception as e:  # OSError offline, ValueError for a wrong folder
        raise FileNotFoundError(
            f"loss.align.model: cannot load DINOv2 '{model}' ({type(e).__name__}: {e}). Give a "
            "local directory written by save_pretrained (or a hub name with network access), "
            "or 'random-tiny' for a test run") from None


class Teacher(nn.Module):
    """Frozen DINOv2; ``forward(x, grid)`` -> (B, D, h, w) features of one hidden layer."""

    def __init__(self, model: str = "facebook/dinov2-large", layer: int = 12, resolution: int = 224):
        super().__init__()
        self.net, self.pretrained = _load(model, resolution)
        n = self.net.config.num_hidden_layers
        if not 1 <= layer <= n:
            raise ValueError(f"loss.align.layer must be in 1..{n} for {model}, got {layer}")
        patch = self.net.config.patch_size
        if resolution % patch:
            raise ValueError(f"loss.align.resolution must be a multiple of the patch size {patch}, "
                             f"got {resolution}")
        self.layer, self.resolution, self.patch = layer, resolution, patch
        self.width = self.net.config.hidden_size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # always in eval mode
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        r = self.resolution
        x = (x.float() + 1.0) / 2.0
        if x.shape[-2:] != (r, r):
            x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        out = self.net(pixel_values=x, output_hidden_states=True)
        tokens = out.hidden_states[self.layer][:, 1:]          # drop CLS
        g = r // self.patch
        feats = tokens.reshape(x.shape[0], g, g, -1).permute(0, 3, 1, 2)
        if feats.shape[-2:] != tuple(grid):
            feats = F.interpolate(feats, size=tuple(grid), mode="bilinear", align_corners=False)
        return feats.float()
