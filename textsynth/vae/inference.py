"""Using a trained VAE: load a checkpoint, reconstruct images.

``load_reconstructor(path)`` is what ``textsynth eval --model CHECKPOINT`` calls: a function
from an (H, W, 3) uint8 RGB image to its reconstruction, same shape and dtype. The image is
padded (edge replication) to a multiple of f and the result cropped back. It runs on CUDA
(bf16 autocast) when available, else on CPU in float32. Both ``out/vae.pt`` (weights only,
EMA weights when training kept an EMA) and full checkpoints (``checkpoints/*.pt``) load.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from textsynth.vae.model import VAE, VAEConfig


def load_vae(path: str | Path, device: str | torch.device | None = None, use_ema: bool = True) -> VAE:
    """The VAE stored in a checkpoint or weights file, in eval mode on ``device``."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    state = torch.load(Path(path), map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or state.get("format", "").split("-")[:2] != ["textsynth", "vae"]:
        raise ValueError(f"{path} is not a textsynth VAE checkpoint (written by `textsynth train`)")
    mc = state["model_config"]
    cfg = VAEConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in mc.items()})
    vae = VAE(cfg)
    weights = state["ema"] if use_ema and state.get("ema") is not None else state["model"]
    vae.load_state_dict(weights)
    return vae.to(device).eval()


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
