"""The autoencoder: attention-free ResBlock encoder/decoder with a Global Skip Connection.

Report §2 (Qwen-Image-VAE-2.0): a light encoder (first width ``d_enc`` = 96) and a heavy
decoder (``d_dec`` = 144), no attention anywhere, a deterministic latent (no KL, no
sampling), and a Global Skip Connection (GSC):

- encoder side: the input image is folded space-to-channel straight to the latent grid
  (``pixel_unshuffle`` by f gives 3·f² channels) and averaged in groups down to the C
  latent channels; that is *added* to the encoder's output, so pixel detail reaches the
  latent without passing through the downsampling stack;
- decoder side: the latent's channels are repeated back to 3·f² and unfolded
  channel-to-space (``pixel_shuffle``) and added to the decoder's output.

With every learned weight zeroed the model still maps an image to a block-averaged copy of
itself: the GSC path alone carries information (tests/test_vae.py checks exactly that).

``n_layer`` is the number of resolution levels (f = 2^(n_layer-1)). The block counts below
put the parameter counts of the four report configurations within a few percent of the
report's Table 1; f32 is f16 with one more full-resolution level of width d, which is why
the table grows by only 1-2 M parameters from f16 to f32.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


@dataclass(frozen=True)
class VAEConfig:
    f: int                      # spatial downsampling factor (16 or 32 in the report)
    latent_channels: int        # C
    d_enc: int                  # first hidden width of the encoder
    d_dec: int                  # first (= last, at full resolution) hidden width of the decoder
    enc_mult: tuple[int, ...]   # width multiplier per level, full resolution first
    dec_mult: tuple[int, ...]
    enc_blocks: tuple[int, ...]  # ResBlocks per level, full resolution first
    dec_blocks: tuple[int, ...]
    gsc: bool = True
    grad_checkpointing: bool = False

    @property
    def n_layer(self) -> int:
        return len(self.enc_mult)

    def validate(self) -> None:
        n = self.n_layer
        if 2 ** (n - 1) != self.f:
            raise ValueError(f"model: f={self.f} needs {int(math.log2(self.f)) + 1} levels, "
                             f"got {n} (enc_mult {self.enc_mult})")
        for name in ("dec_mult", "enc_blocks", "dec_blocks"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"model.{name} must have {n} entries (one per level)")
        if self.gsc and (3 * self.f * self.f) % self.latent_channels:
            raise ValueError(f"model: GSC folds 3*f^2 = {3 * self.f ** 2} channels into "
                             f"latent_channels={self.latent_channels}; it must divide evenly")

    def as_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _cfg(f, c, enc_mult, dec_mult, enc_blocks, dec_blocks, d_enc=96, d_dec=144) -> VAEConfig:
    return VAEConfig(f, c, d_enc, d_dec, tuple(enc_mult), tuple(dec_mult), tuple(enc_blocks),
                     tuple(dec_blocks))


_F16 = {"enc_mult": (1, 2, 4, 8, 8), "dec_mult": (1, 2, 4, 8, 8),
        "enc_blocks": (1, 1, 1, 2, 4), "dec_blocks": (1, 1, 2, 3, 6)}
_F32 = {"enc_mult": (1, 1, 2, 4, 8, 8), "dec_mult": (1, 1, 2, 4, 8, 8),
        "enc_blocks": (1, 1, 1, 1, 2, 4), "dec_blocks": (1, 1, 1, 2, 3, 6)}

PRESETS: dict[str, VAEConfig] = {
    # Table 1: n_layer 5, #params 76M / 248M
    "f16c64": _cfg(16, 64, **_F16),
    "f16c128": _cfg(16, 128, **_F16),
    # Table 1: n_layer 6, #params 77M / 250M and 78M / 250M
    "f32c128": _cfg(32, 128, **_F32),
    "f32c192": _cfg(32, 192, **_F32),
    # For tests and CPU demos: f8, ~0.7M parameters.
    "tiny": _cfg(8, 8, (1, 2, 2, 4), (1, 2, 2, 4), (1, 1, 1, 1), (1, 1, 1, 2), d_enc=16, d_dec=24),
    # CPU-sized models for experiments on 2 cores (BENCHMARKS.md "Does the data help?"):
    # narrow at full resolution, where the cost is, and wider deeper down.
    "cpu-f8c16": _cfg(8, 16, (1, 2, 4, 8), (1, 2, 4, 8), (1, 1, 1, 2), (1, 1, 2, 3), d_enc=24, d_dec=32),
    "cpu-f4c4": _cfg(4, 4, (1, 2, 4), (1, 2, 4), (1, 1, 2), (1, 2, 3), d_enc=32, d_dec=48),
}

# Table 1 of the report, (encoder, decoder) parameters.
REPORT_PARAMS = {"f16c64": (76e6, 248e6), "f16c128": (76e6, 248e6),
                 "f32c128": (77e6, 250e6), "f32c192": (78e6, 250e6)}


def model_config(name: str = "f16c64", **overrides) -> VAEConfig:
    """A preset with fields replaced (lists become tuples); raises ValueError when invalid."""
    if name not in PRESETS:
        raise ValueError(f"unknown model '{name}' (known: {', '.join(PRESETS)})")
    base = PRESETS[name].as_dict()
    for k, v in overrides.items():
        if v is None:
            continue
        if k not in base:
            raise ValueError(f"unknown model field '{k}' (known: {', '.join(base)})")
        base[k] = v
    cfg = VAEConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in base.items()})
    cfg.validate()
    return cfg


# ---------------------------------------------------------------------------- building blocks

def norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, c), c, eps=1e-6)


class ResBlock(nn.Module):
    """norm-SiLU-conv3x3 twice, plus the input (through a 1x1 conv when widths differ)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.norm1, self.conv1 = norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Downsample(nn.Module):
    """Strided 3x3 conv, halving H and W (asymmetric pad as in the SD VAE)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour x2 then a 3x3 conv."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def space_to_channel(x: torch.Tensor, f: int, channels: int) -> torch.Tensor:
    """GSC, encoder side: (B, 3, H, W) -> (B, channels, H/f, W/f), a fold of f x f pixel
    blocks into 3·f² channels averaged in consecutive groups down to ``channels``."""
    y = F.pixel_unshuffle(x, f)
    b, c, h, w = y.shape
    return y.view(b, channels, c // channels, h, w).mean(dim=2)


def channel_to_space(z: torch.Tensor, f: int, out_channels: int = 3) -> torch.Tensor:
    """GSC, decoder side: (B, C, h, w) -> (B, out_channels, h·f, w·f), each channel repeated
    to fill 3·f² channels, then unfolded into f x f pixel blocks."""
    groups = out_channels * f * f // z.shape[1]
    return F.pixel_shuffle(z.repeat_interleave(groups, dim=1), f)


class _Stack(nn.Module):
    def _run(self, layers: nn.ModuleList, h: torch.Tensor, use_ckpt: bool) -> torch.Tensor:
        for layer in layers:
            if use_ckpt and self.training and torch.is_grad_enabled():
                h = checkpoint(layer, h, use_reentrant=False)
            else:
                h = layer(h)
        return h


class Encoder(_Stack):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        widths = [cfg.d_enc * m for m in cfg.enc_mult]
        self.conv_in = nn.Conv2d(3, widths[0], 3, padding=1)
        layers, c = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, cfg.enc_blocks)):
            for _ in range(n):
                layers.append(ResBlock(c, w))
                c = w
            if i < len(widths) - 1:
                layers.append(Downsample(c, widths[i + 1]))
                c = widths[i + 1]
        self.layers = nn.ModuleList(layers)
        self.norm_out = norm(c)
        self.conv_out = nn.Conv2d(c, cfg.latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._run(self.layers, self.conv_in(x), self.cfg.grad_checkpointing)
        z = self.conv_out(F.silu(self.norm_out(h)))
        if self.cfg.gsc:
            z = z + space_to_channel(x, self.cfg.f, self.cfg.latent_channels)
        return z


class Decoder(_Stack):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        widths = [cfg.d_dec * m for m in cfg.dec_mult][::-1]   # deepest level first
        blocks = list(cfg.dec_blocks)[::-1]
        self.conv_in = nn.Conv2d(cfg.latent_channels, widths[0], 3, padding=1)
        layers, c = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for _ in range(n):
                layers.append(ResBlock(c, w))
                c = w
            if i < len(widths) - 1:
                layers.append(Upsample(c, widths[i + 1]))
                c = widths[i + 1]
        self.layers = nn.ModuleList(layers)
        self.norm_out = norm(c)
        self.conv_out = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self._run(self.layers, self.conv_in(z), self.cfg.grad_checkpointing)
        x = self.conv_out(F.silu(self.norm_out(h)))
        if self.cfg.gsc:
            x = x + channel_to_space(z, self.cfg.f)
        return x


class VAE(nn.Module):
    """Deterministic autoencoder: ``encode`` gives the latent, ``decode`` the image.
    Images are (B, 3, H, W) in [-1, 1] with H and W multiples of f."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        f = self.cfg.f
        if x.shape[-1] % f or x.shape[-2] % f:
            raise ValueError(f"image size {tuple(x.shape[-2:])} is not a multiple of f={f}")
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self.decode(z), z


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def param_counts(cfg: VAEConfig) -> tuple[int, int]:
    """(encoder, decoder) parameters, counted on the meta device (nothing allocated)."""
    with torch.device("meta"):
        m = VAE(cfg)
    return count_params(m.encoder), count_params(m.decoder)
