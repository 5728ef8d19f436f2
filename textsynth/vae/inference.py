"""Using a trained VAE: load a checkpoint, reconstruct images.

``load_reconstructor(path)`` is what ``textsynth eval --model CHECKPOINT`` calls: a function
from an (H, W, 3) uint8 RGB image to its reconstruction, same shape and dtype. The image is
padded (edge replication) to a multiple of f and the result cropped back. It runs on CUDA
(bf16 autocast) when available, else on CPU in float32. Both ``out/vae.pt`` (weights only,
EMA weights when training kept an EMA) and full checkpoints (``checkpoints/*.pt``) load,
through ``checkpoint.load_checkpoint`` (weights_only: a crafted file runs no code).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
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


def load_reconstructor(path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    vae = load_vae(path)
    device = next(vae.parameters()).device
    f = vae.cfg.f

    @torch.no_grad()
    def reconstruct(img: np.ndarray) -> np.ndarray:
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {img.shape} {img.dtype}")
        h, w = img.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(img)).to(device).permute(2, 0, 1)[None].float()
        x = x / 127.5 - 1.0
        ph, pw = (-h) % f, (-w) % f
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            y = vae(x)[0]
        y = ((y.float()[0, :, :h, :w].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return y.permute(1, 2, 0).cpu().numpy()

    return reconstruct
