"""Using a trained VAE: load a checkpoint, reconstruct images.

``load_reconstructor(path)`` is what ``textsynth eval --model CHECKPOINT`` calls: a function
from an (H, W, 3) uint8 RGB image to its reconstruction, same shape and dtype, with a
``many`` method that reconstructs a list in batches (a GPU's way; on CPU one at a time is fastest). The image is
padded (edge replication) to a multiple of f and the result cropped back. It runs on CUDA
(bf16 autocast) when available, else on CPU in float32. Both ``out/vae.pt`` (weights only,
EMA weights when training kept an EMA) and full checkpoints (``checkpoints/*.pt``) load,
through ``checkpoint.load_checkpoint`` (weights_only: a crafted file runs no code).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from textsynth.vae.checkpoint import CheckpointError, load_checkpoint
from textsynth.vae.model import VAE, VAEConfig


def load_vae(path: str | Path, device: str | torch.device | None = None, use_ema: bool = True) -> VAE:
    """The VAE stored in a checkpoint or weights file, in eval mode on ``device``; a file that
    is not one raises CheckpointError (see textsynth.vae.checkpoint: nothing in it runs)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    state = load_checkpoint(path)
    weights = state["ema"] if use_ema and state.get("ema") is not None else state["model"]
    return build_vae(Path(path), state["model_config"], weights).to(device).eval()


def build_vae(path: Path, mc: dict, weights: dict) -> VAE:
    """The VAE that ``mc`` describes, holding ``weights``. Built on the meta device and then
    given the loaded tensors, so a model_config claiming a huge model allocates nothing the
    file does not hold; one claiming more levels and blocks than it has tensors (each has
    several) is refused unbuilt, so building takes time in proportion to the file too."""
    fields = {f.name for f in dataclasses.fields(VAEConfig)}
    if not set(mc) <= fields or not all(_ints(v) for v in mc.values()):
        raise CheckpointError(path, f"model_config {mc} is not a VAE configuration")
    parts = sum(len(v) + (sum(v) if k.endswith("_blocks") else 0)
                for k, v in mc.items() if isinstance(v, list))
    if parts > len(weights):
        raise CheckpointError(path, f"model_config declares {parts} levels and blocks, more than "
                                    f"its {len(weights)} tensors")
    try:
        cfg = VAEConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in mc.items()})
        with torch.device("meta"):
            vae = VAE(cfg)
        vae.load_state_dict(weights, assign=True)
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise CheckpointError(path, f"its weights do not fit its model_config: {e}") from None
    return vae.float()


def _ints(v) -> bool:
    """A model_config value: a bool, a count, or a list of counts (never negative)."""
    return type(v) is bool or type(v) is int and v >= 0 or (
        isinstance(v, list) and all(type(n) is int and n >= 0 for n in v))


class Reconstructor:
    """``rec(img)``: one image's reconstruction; ``rec.many(images)``: many, in batches of
    same-shaped images, in the order given. Batching changes only speed: GroupNorm normalises
    each image alone, so a batch's rows are the images' own reconstructions (equal to
    one-at-a-time up to float summation order). The default batch is 8 on CUDA and 1 on CPU,
    where convolutions are 87% of the time and batches of 256x256 images are slower, not
    faster (benchmarks/reconstruct.py: batch 8 0.65-0.75x, channels-last 1.0x)."""

    def __init__(self, vae: VAE, batch: int | None = None, channels_last: bool = False):
        self.vae = vae
        self.device = next(vae.parameters()).device
        self.batch = batch or (8 if self.device.type == "cuda" else 1)
        self.f = vae.cfg.f
        self.channels_last = channels_last
        if channels_last:
            self.vae = vae.to(memory_format=torch.channels_last)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return self.many([img])[0]

    @torch.no_grad()
    def many(self, images: list[np.ndarray]) -> list[np.ndarray]:
        for img in images:
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {img.shape} {img.dtype}")
        out: list[np.ndarray | None] = [None] * len(images)
        groups: dict[tuple, list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault(img.shape, []).append(i)
        for idx in groups.values():
            for k in range(0, len(idx), self.batch):
                part = idx[k:k + self.batch]
                for i, rec in zip(part, self._forward([images[i] for i in part])):
                    out[i] = rec
        return out

    def _forward(self, images: list[np.ndarray]) -> list[np.ndarray]:
        h, w = images[0].shape[:2]
        x = torch.from_numpy(np.stack(images)).to(self.device).permute(0, 3, 1, 2).float()
        x = x / 127.5 - 1.0
        ph, pw = (-h) % self.f, (-w) % self.f
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16,
                            enabled=self.device.type == "cuda"):
            y = self.vae(x)[0]
        y = ((y.float()[:, :, :h, :w].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return list(y.permute(0, 2, 3, 1).cpu().numpy())


def load_reconstructor(path: str | Path, batch: int | None = None) -> Reconstructor:
    """The reconstruction function of the VAE in checkpoint ``path`` (see Reconstructor)."""
    return Reconstructor(load_vae(path), batch)
