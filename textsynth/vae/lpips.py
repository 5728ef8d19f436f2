"""LPIPS (Zhang et al. 2018), our own code, weights from local files.

The backbone is VGG16's convolutional part, laid out exactly as torchvision's
``vgg16().features`` so a torchvision state dict (``vgg16-397923af.pth``) loads as is; the
per-layer linear heads load from the LPIPS v0.1 file ``vgg.pth`` (shipped inside the
``lpips`` package, keys ``lin{k}.model.1.weight``). Nothing is downloaded.

Weights live in a directory holding both files; the default is
``$TEXTSYNTH_HOME/models/lpips/``. Without them, ``load_lpips`` returns None (and says why)
for evaluation, while training (``net: auto`` or ``net: random``) runs on a tiny random
VGG-shaped net and logs a loud WARNING: that loss then only measures differences in random
features, not perceptual similarity.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger("textsynth.vae")

VGG16_LAYERS = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
TAPS = (3, 8, 15, 22, 29)   # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 in features.N numbering
# LPIPS input scaling (from the LPIPS paper's code): inputs in [-1, 1].
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class VGGFeatures(nn.Module):
    """VGG16 ``features`` (torchvision numbering) up to relu5_3; returns the tapped maps.
    ``width_div`` > 1 gives a narrow net of the same shape (random-weight tests)."""

    def __init__(self, width_div: int = 1):
        super().__init__()
        layers, c = [], 3
        for v in VGG16_LAYERS:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                w = max(1, v // width_div)
                layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU(inplace=False)]
                c = w
        self.features = nn.Sequential(*layers)
        self.channels = [self.features[t - 1].out_channels for t in TAPS]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAPS:
                out.append(x)
        return out


def _unit(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPS(nn.Module):
    """d(x, y) = sum_l mean_hw  w_l · (unit(phi_l(x)) - unit(phi_l(y)))²  (per image).

    ``backbone(x)`` returns a list of feature maps; ``lin`` holds one non-negative weight
    vector per map. Frozen: no parameter needs gradients, inputs do."""

    def __init__(self, backbone: nn.Module, lin: list[torch.Tensor], scaling: bool = True,
                 pretrained: bool = False):
        super().__init__()
        self.backbone = backbone
        self.lin = nn.ParameterList([nn.Parameter(w.reshape(-1).clone(), requires_grad=False)
                                     for w in lin])
        self.scaling = scaling
        self.pretrained = pretrained
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # always in eval mode
        return super().train(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-image distances (B,) for images in [-1, 1]."""
        if self.scaling:
            x, y = (x - self.shift) / self.scale, (y - self.shift) / self.scale
        total = 0.0
        for fx, fy, w in zip(self.backbone(x), self.backbone(y), self.lin):
            d = (_unit(fx) - _unit(fy)).pow(2)
            total = total + (d * w.view(1, -1, 1, 1)).sum(dim=1).mean(dim=(1, 2))
        return total


def default_dir() -> Path:
    from textsynth import paths

    return paths.models_dir() / "lpips"


def find_weights(directory: Path) -> tuple[Path, Path] | str:
    """(vgg16 torchvision state dict, LPIPS linear heads) in ``directory``, or why not."""
    if not directory.is_dir():
        return f"no LPIPS weights directory {directory}"
    vgg = sorted(directory.glob("vgg16*.pth"))
    lin = directory / "vgg.pth"
    if not vgg:
        return f"{directory} has no torchvision VGG16 state dict (vgg16*.pth)"
    if not lin.is_file():
        return f"{directory} has no LPIPS v0.1 linear heads file vgg.pth"
    return vgg[0], lin


def pretrained(directory: Path) -> LPIPS:
    found = find_weights(Path(directory))
    if isinstance(found, str):
        raise FileNotFoundError(found)
    vgg_path, lin_path = found
    backbone = VGGFeatures()
    state = torch.load(vgg_path, map_location="cpu", weights_only=True)
    feats = {k: v for k, v in state.items() if k.startswith("features.")}
    missing, _ = backbone.load_state_dict(feats, strict=False)
    if missing:
        raise ValueError(f"{vgg_path}: not a torchvision VGG16 state dict (missing {missing[:3]}...)")
    heads = torch.load(lin_path, map_location="cpu", weights_only=True)
    lin = []
    for k in range(len(TAPS)):
        w = heads.get(f"lin{k}.model.1.weight", heads.get(f"lin{k}.weight"))
        if w is None:
            raise ValueError(f"{lin_path}: no linear head lin{k} (expected LPIPS v0.1 vgg.pth)")
        lin.append(w)
    log.info("LPIPS: VGG16 %s + heads %s", vgg_path, lin_path)
    return LPIPS(backbone, lin, pretrained=True)


def random_tiny(seed: int = 0) -> LPIPS:
    """A VGG16-shaped net 16x narrower with random weights and uniform heads."""
    log.warning("!" * 78)
    log.warning("LPIPS RUNS ON A TINY RANDOM NETWORK (no VGG16/LPIPS weights): the perceptual "
                "loss is NOT perceptual. Put vgg16*.pth + vgg.pth in %s or set loss.lpips.net",
                default_dir())
    log.warning("!" * 78)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = VGGFeatures(width_div=16)
    lin = [torch.full((c,), 1.0 / c) for c in backbone.channels]
    return LPIPS(backbone, lin, pretrained=False)


def build(net: str) -> LPIPS:
    """``auto`` (default dir, else random), ``random``, or a directory of weights."""
    if net == "random":
        return random_tiny()
    if net == "auto":
        found = find_weights(default_dir())
        if isinstance(found, str):
            log.warning("LPIPS: %s", found)
            return random_tiny()
        return pretrained(default_dir())
    return pretrained(Path(net).expanduser())


def load_lpips(spec: str | None = None):
    """An LPIPS metric for evaluation, ``fn(img_a, img_b) -> float`` on (H, W, 3) uint8 RGB
    images, or None when no weights are available (the reason is logged and printed).
    ``spec``: None (the default dir), a directory of weights, or ``random`` (tests only)."""
    if spec == "random":
        model = random_tiny()
    else:
        directory = Path(spec).expanduser() if spec else default_dir()
        found = find_weights(directory)
        if isinstance(found, str):
            msg = f"LPIPS not computed: {found}"
            log.warning(msg)
            return None
        model = pretrained(directory)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device)

    def to_tensor(img: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
        return (t / 127.5 - 1.0).to(device)

    @torch.no_grad()
    def metric(a: np.ndarray, b: np.ndarray) -> float:
        if a.shape != b.shape:
            raise ValueError(f"LPIPS needs images of one shape, got {a.shape} and {b.shape}")
        return float(model(to_tensor(a), to_tensor(b))[0])

    return metric


def lpips_loss(model: LPIPS, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Batch-mean LPIPS, computed in float32 (stable under bf16 autocast)."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        return model(x.float(), y.float()).mean()

