"""VAE trainer step cost (issue 6); prints Markdown for BENCHMARKS.md.

    python benchmarks/vae_step.py [--threads 1] [--steps 20] [--big-steps 2] [--skip-big]

1. CPU step time of the tiny config (pipelines/configs/vae_tiny_cpu.yaml: 64x64, batch 8,
   tiny random LPIPS and DINOv2), forward + backward + AdamW, on in-memory batches (the
   loader is measured by benchmarks/vae_loader.py).
2. f16c64 at 256x256, batch 1, on CPU: the VAE alone (L1) and the full objective with
   full-size LPIPS-VGG16 and DINOv2-L (random weights: the cost is the same as pretrained).
3. FLOPs per 256x256 image of that step, counted by torch's FlopCounterMode on the meta
   device (exact for convs/matmuls, nothing allocated), and the achieved CPU GFLOP/s as the
   ratio against that count. A GPU figure derived from FLOPs is an *estimate* and printed as
   one, with its assumption.
"""

from __future__ import annotations

import argparse
import time

import torch

from textsynth.vae.config import load_train_config
from textsynth.vae.losses import AlignProjection, Objective
from textsynth.vae.lpips import LPIPS, VGGFeatures
from textsynth.vae.model import PRESETS, VAE
from textsynth.vae.train import Autoencoding, build, param_groups


def full_size_nets(device="cpu"):
    """LPIPS-VGG16 and DINOv2-L shaped nets with random weights (same compute)."""
    from transformers import Dinov2Config, Dinov2Model

    from textsynth.vae.semantic import Teacher

    vgg = VGGFeatures()
    lp = LPIPS(vgg, [torch.full((c,), 1.0 / c) for c in vgg.channels])
    t = Teacher.__new__(Teacher)
    torch.nn.Module.__init__(t)
    t.net = Dinov2Model(Dinov2Config(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                     intermediate_size=4096, patch_size=14, image_size=518))
    t.pretrained, t.layer, t.resolution, t.patch, t.width = False, 12, 224, 14, 1024
    t.register_buffer("mean", torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1), persistent=False)
    t.register_buffer("std", torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1), persistent=False)
    t.requires_grad_(False).eval()
    return lp, t


def time_steps(module, objective, x, steps: int, warmup: int = 1) -> float:
    opt = torch.optim.AdamW(param_groups(module, 0.01), lr=1e-4)
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        recon, _, zp = module(x)
        loss, _ = objective(x, recon, zp, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def count_flops(with_losses: bool) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        vae = VAE(PRESETS["f16c64"])
        x = torch.empty(1, 3, 256, 256)
        lp, teacher = full_size_nets() if with_losses else (None, None)
        proj = AlignProjection(64, 1024) if with_losses else None
    cfg = load_train_config(None)["loss"]
    obj = Objective(cfg, lp, teacher)
    module = Autoencoding(vae, proj)
    with FlopCounterMode(display=False) as fc:
        recon, _, zp = module(x)
        loss, _ = _meta_objective(obj, x, recon, zp)
        loss.backward()
    return fc.get_total_flops()


def _meta_objective(obj, x, recon, zp):
    """The objective's arithmetic without the float() reads a meta tensor cannot do."""
    from textsynth.vae.losses import mcos_loss, mdms_loss

    total = (recon - x).abs().mean()
    if obj.lpips is not None:
        total = total + 0.1 * obj.lpips(recon, x).mean()
    if obj.teacher is not None:
        f = obj.teacher(x, tuple(zp.shape[-2:]))
        total = total + 0.5 * (mcos_loss(zp, f, 0.1) + mdms_loss(zp, f, 0.05))
    return total, {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--big-steps", type=int, default=2)
    ap.add_argument("--skip-big", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU, {args.threads} torch thread(s)\n")

    # 1. tiny config, as pipelines/configs/vae_tiny_cpu.yaml
    cfg = load_train_config("pipelines/configs/vae_tiny_cpu.yaml")
    module, objective = build(cfg)
    r, b = cfg["data"]["resolution"], cfg["data"]["batch_size"]
    x = torch.rand(b, 3, r, r) * 2 - 1
    t_tiny = time_steps(module, objective, x, args.steps, warmup=3)
    vae_only = Objective({**cfg["loss"], "lpips": {**cfg["loss"]["lpips"], "weight": 0.0},
                          "align": {**cfg["loss"]["align"], "weight": 0.0}})
    t_tiny_vae = time_steps(Autoencoding(module.vae, None), vae_only, x, args.steps, warmup=3)
    print("| step | seconds/step | images/s |")
    print("|---|---|---|")
    print(f"| tiny, {r}x{r}, batch {b}, full objective (tiny random LPIPS + DINOv2) | "
          f"{t_tiny:.4f} | {b / t_tiny:.1f} |")
    print(f"| tiny, {r}x{r}, batch {b}, L1 only | {t_tiny_vae:.4f} | {b / t_tiny_vae:.1f} |")

    flops_vae = count_flops(False)
    flops_all = count_flops(True)
    if not args.skip_big:
        torch.manual_seed(0)
        vae = VAE(PRESETS["f16c64"])
        x = torch.rand(1, 3, 256, 256) * 2 - 1
        t_vae = time_steps(Autoencoding(vae, None), Objective({**cfg["loss"], "lpips": {"weight": 0.0},
                                                              "align": {**cfg["loss"]["align"], "weight": 0.0}}),
                           x, args.big_steps)
        print(f"| f16c64, 256x256, batch 1, L1 only | {t_vae:.2f} | {1 / t_vae:.3f} |")
        lp, teacher = full_size_nets()
        real = load_train_config(None)["loss"]
        t_all = time_steps(Autoencoding(vae, AlignProjection(64, 1024)), Objective(real, lp, teacher),
                           x, args.big_steps)
        print(f"| f16c64, 256x256, batch 1, full objective (VGG16 LPIPS + DINOv2-L at 224) | "
              f"{t_all:.2f} | {1 / t_all:.3f} |")
    print(f"\nFLOPs per 256x256 image, forward + backward (FlopCounterMode, meta device): "
          f"VAE + L1 {flops_vae / 1e9:.0f} GFLOP; full objective {flops_all / 1e9:.0f} GFLOP")
    if not args.skip_big:
        print(f"achieved on this CPU: {flops_vae / t_vae / 1e9:.1f} GFLOP/s (VAE), "
              f"{flops_all / t_all / 1e9:.1f} GFLOP/s (full objective)")
    peak, util = 989e12, 0.4
    est = peak * util / flops_all
    print(f"ESTIMATE, not measured: an H100 at {util:.0%} of its 989 TFLOP/s dense bf16 peak would do "
          f"~{est:.0f} images/s of the full f16c64 step at 256x256")


if __name__ == "__main__":
    main()
