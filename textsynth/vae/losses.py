"""Training objective (report §4.1-4.2, equations 1-4):

    L = L1 + λ_lpips · LPIPS + λ_align · (L_mcos + L_mdms)

No KL term and no GAN. The alignment projects the latent z with a learnable linear map W
(a 1x1 conv, C -> DINOv2 width) and compares z' = Wz with DINOv2 middle-layer features f
on the latent grid (N = h·w positions):

    L_mcos = 1/N   Σ_p   ReLU(1 - cos(z'_p, f_p) - m_cos)                          (2)
    L_mdms = 1/N²  Σ_p,q ReLU(|cos(z'_p, z'_q) - cos(f_p, f_q)| - m_dist)           (3)

Both margins go from strict (small) to loose (large) over a step range (§4.3).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def margin_at(step: int, start_end: list[float], steps: list[int], shape: str = "cosine") -> float:
    """A margin scheduled from ``start_end[0]`` (strict) at ``steps[0]`` to ``start_end[1]``
    (loose) at ``steps[1]``; constant outside that range."""
    (m0, m1), (s0, s1) = start_end, steps
    if s1 <= s0 or step >= s1:
        return float(m1) if step >= s0 else float(m0)
    t = max(0.0, (step - s0) / (s1 - s0))
    if shape == "cosine":
        t = 0.5 - 0.5 * math.cos(math.pi * t)
    return float(m0 + (m1 - m0) * t)


def _flat_unit(x: torch.Tensor) -> torch.Tensor:
    """(B, D, h, w) -> (B, N, D) with unit-length vectors per position."""
    return F.normalize(x.flatten(2).transpose(1, 2).float(), dim=-1, eps=1e-8)


def mcos_loss(zp: torch.Tensor, f: torch.Tensor, m_cos: float) -> torch.Tensor:
    """Equation (2), averaged over the batch. zp and f: (B, D, h, w)."""
    cos = (_flat_unit(zp) * _flat_unit(f)).sum(-1)           # (B, N)
    return F.relu(1.0 - cos - m_cos).mean()


def mdms_loss(zp: torch.Tensor, f: torch.Tensor, m_dist: float,
              max_positions: int = 0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Equation (3), averaged over the batch. With ``max_positions`` > 0 and more positions
    than that, a random subset of positions (the same for z' and f) stands in for all N:
    the N² matrix gets too big at high resolution."""
    a, b = _flat_unit(zp), _flat_unit(f)
    n = a.shape[1]
    if max_positions and n > max_positions:
        idx = torch.randperm(n, generator=generator)[:max_positions].to(a.device)
        a, b = a[:, idx], b[:, idx]
    ca = a @ a.transpose(1, 2)
    cb = b @ b.transpose(1, 2)
    return F.relu((ca - cb).abs() - m_dist).mean()


class AlignProjection(nn.Module):
    """z' = W z: a learnable linear map from C latent channels to the teacher's width."""

    def __init__(self, latent_channels: int, width: int):
        super().__init__()
        self.proj = nn.Conv2d(latent_channels, width, 1, bias=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.proj(z)


class Objective(nn.Module):
    """The weighted sum of eq. (1). Holds the frozen LPIPS net and DINOv2 teacher (either is
    None when its weight is 0). ``forward`` returns (total, parts) with parts as floats."""

    def __init__(self, cfg: dict, lpips=None, teacher=None):
        super().__init__()
        self.cfg = cfg
        self.lpips = lpips
        self.teacher = teacher

    def margins(self, step: int) -> tuple[float, float]:
        a = self.cfg["align"]
        return (margin_at(step, a["m_cos"], a["margin_steps"], a["margin_shape"]),
                margin_at(step, a["m_dist"], a["margin_steps"], a["margin_shape"]))

    def forward(self, x: torch.Tensor, recon: torch.Tensor, zp: torch.Tensor | None,
                step: int) -> tuple[torch.Tensor, dict]:
        c = self.cfg
        l1 = (recon.float() - x.float()).abs().mean()
        total = c["l1"] * l1
        parts = {"l1": l1}
        if self.lpips is not None and c["lpips"]["weight"] > 0:
            from textsynth.vae.lpips import lpips_loss

            lp = lpips_loss(self.lpips, recon, x)
            total = total + c["lpips"]["weight"] * lp
            parts["lpips"] = lp
        if self.teacher is not None and c["align"]["weight"] > 0 and zp is not None:
            m_cos, m_dist = self.margins(step)
            feats = self.teacher(x, tuple(zp.shape[-2:]))
            gen = torch.Generator().manual_seed(int(step))
            lc = mcos_loss(zp, feats, m_cos)
            ld = mdms_loss(zp, feats, m_dist, c["align"]["max_positions"], gen)
            total = total + c["align"]["weight"] * (lc + ld)
            parts.update(mcos=lc, mdms=ld, m_cos=torch.tensor(m_cos), m_dist=torch.tensor(m_dist))
        parts["loss"] = total
        return total, {k: float(v.detach()) for k, v in parts.items()}
