"""The bundled VAE trainer (report §2 and §4): model, losses, staged data, training loop.

    textsynth train --config pipelines/configs/vae_tiny_cpu.yaml --out out/vae-tiny

Modules, each readable on its own: ``model`` (GSC ResBlock autoencoder, presets of the
report's Table 1), ``losses`` (L1 + LPIPS + margin alignment), ``lpips`` and ``semantic``
(the frozen nets those losses need), ``data`` (webdataset sources, RandomMix, staged
schedule), ``train`` (the loop, checkpoints, Ray Train), ``config`` (YAML as data) and
``inference`` (checkpoint -> reconstruction function, used by ``textsynth eval``).
Importing this package does not import torch; the functions below do when called.
"""

from __future__ import annotations


def load_reconstructor(path):
    """(H, W, 3) uint8 RGB -> its reconstruction by the VAE in checkpoint ``path``."""
    from textsynth.extras import require

    require("torch", "a checkpoint model")   # `eval` without the train extra: say which
    from textsynth.vae.inference import load_reconstructor as _load

    return _load(path)


def load_lpips(spec=None):
    """LPIPS metric ``fn(a, b) -> float`` on uint8 RGB images, or None without weights."""
    from textsynth.vae.lpips import load_lpips as _load

    return _load(spec)
