"""VAE trainer step cost (issues 6 and 26); prints Markdown for BENCHMARKS.md.

    python benchmarks/vae_step.py [--threads 1] [--steps 20] [--big-steps 2] [--skip-big]
    python benchmarks/vae_step.py --compare [--threads 2] [--rounds 6] [--steps 4] [--compile]
    python benchmarks/vae_step.py --compare --device cuda --preset f16c64 --resolution 256 \
        --batch 16 [--peak-tflops 989]

``--compare`` (issue 26): the trainer's step as it was before issue 26 (NCHW tensors,
per-tensor AdamW and grad-norm loops, the batch converted in NCHW) against today's
``train.train_step`` with the config's speed settings, side by side in one process on the
same batch, interleaved old/new rounds (ABAB: a busy shared machine slows both alike), the
median images/s of each and their ratio. Defaults: the CPU ablation's step (``cpu-f4c4``,
64x64, batch 16, L1 only, grad clip 1). On CUDA both run in bf16 autocast and the
MFU is printed against the FLOPs counted for that step and ``--peak-tflops``.

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

from textsynth.vae.config import checked, load_train_config
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


def count_flops(with_losses: bool, preset: str = "f16c64", resolution: int = 256) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        vae = VAE(PRESETS[preset])
        x = torch.empty(1, 3, resolution, resolution)
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


# ------------------------------------------------------------------ --compare (issue 26)

def old_step(module, objective, opt, xb, step, grad_clip, use_bf16):
    """The trainer's step before issue 26, verbatim: NCHW, per-tensor clip and AdamW."""
    x = xb.to(module_device(module), non_blocking=True).float().div_(127.5).sub_(1.0)
    module.train()
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=use_bf16):
        recon, _, zp = module(x)
        loss, parts = objective(x, recon, zp, step)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(module.parameters(), grad_clip))
    opt.step()
    return parts, grad_norm


def module_device(module) -> torch.device:
    return next(module.parameters()).device


def step_arms(cfg: dict, device: torch.device, use_bf16: bool, compile_: bool):
    """(old, new) step closures over two identically initialised trainers."""
    from textsynth.vae.train import optimizer, place, to_input, train_step

    t = {**cfg["train"], "compile": compile_}
    old_m, old_obj = build(cfg)
    old_m.to(device)
    old_obj.to(device)
    old_opt = torch.optim.AdamW(param_groups(old_m, t["weight_decay"]), lr=t["lr"], betas=tuple(t["betas"]),
                                fused=device.type == "cuda")
    new_m, new_obj = build(cfg)
    place(new_m, new_obj, device, t["channels_last"])
    new_opt = optimizer(new_m, t, device)
    fwd = torch.compile(new_m) if t["compile"] else new_m

    def old(xb, i):
        return old_step(old_m, old_obj, old_opt, xb, i, t["grad_clip"], use_bf16)

    def new(xb, i):
        return train_step(fwd, new_m, new_obj, new_opt, to_input(xb, device, t["channels_last"]), i,
                          t["grad_clip"], use_bf16)
    def drift() -> float:
        """Largest |old - new| over the VAE's weights: both ran the same steps on the same data."""
        return max(float((a.detach() - b.detach()).abs().max())
                   for a, b in zip(old_m.vae.parameters(), new_m.vae.parameters()))
    return old, new, drift


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compare(args) -> None:
    import statistics

    device = torch.device(args.device)
    cfg = checked({"model": {"name": args.preset},
                   "loss": {"l1": 1.0, "lpips": {"weight": 0.0}, "align": {"weight": 0.0}},
                   "data": {"resolution": args.resolution, "batch_size": args.batch,
                            "sources": {"general": {"paths": ["unused"]}},
                            "stages": [{"start": 0, "mix": {"general": 1.0}}]},
                   "train": {"lr": 2e-3, "betas": [0.9, 0.99], "grad_clip": 1.0}})
    use_bf16 = device.type == "cuda" and cfg["train"]["bf16"]
    old, new, drift = step_arms(cfg, device, use_bf16, args.compile)
    g = torch.Generator().manual_seed(0)
    xb = torch.randint(0, 256, (args.batch, 3, args.resolution, args.resolution), dtype=torch.uint8,
                       generator=g)   # the loader's batch: uint8 NCHW
    if device.type == "cuda":
        xb = xb.pin_memory()
    first = {}
    for name, fn in (("old", old), ("new", new)):   # warm-up; the new one includes any compile
        torch.set_num_threads((args.old_threads if name == "old" else args.new_threads) or args.threads)
        t0 = time.perf_counter()
        for i in range(args.warmup):
            fn(xb, i)
        _sync(device)
        first[name] = time.perf_counter() - t0
    threads = {"old": args.old_threads or args.threads, "new": args.new_threads or args.threads}
    rates = {"old": [], "new": []}
    for r in range(args.rounds):
        for name, fn in ((("old", old), ("new", new)) if r % 2 == 0 else (("new", new), ("old", old))):
            torch.set_num_threads(threads[name])
            t0 = time.perf_counter()
            for i in range(args.steps):
                fn(xb, i)
            _sync(device)
            rates[name].append(args.batch * args.steps / (time.perf_counter() - t0))
    med = {k: statistics.median(v) for k, v in rates.items()}
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU, torch threads old {threads['old']} / new {threads['new']}")
    print(f"{args.preset}, {args.resolution}x{args.resolution}, batch {args.batch}, L1 only, on {where}"
          f"{', bf16 autocast' if use_bf16 else ''}; {args.rounds} interleaved rounds x {args.steps} steps "
          f"after {args.warmup} warm-up steps\n")
    print("| step | median images/s | rounds (images/s) | warm-up s |")
    print("|---|---|---|---|")
    label = {"old": "before (NCHW, per-tensor AdamW and clip)",
             "new": "train_step (channels-last, foreach AdamW and clip"
                    + (", torch.compile" if args.compile else "") + ")"}
    for k in ("old", "new"):
        print(f"| {label[k]} | {med[k]:.2f} | {' '.join(f'{v:.1f}' for v in rates[k])} | {first[k]:.1f} |")
    print(f"\nratio new/old: {med['new'] / med['old']:.2f}x (median images/s)")
    steps = args.warmup + args.rounds * args.steps
    print(f"numerics: after {steps} identical steps the two VAEs' weights differ by at most "
          f"{drift():.2e} (lr {cfg['train']['lr']})")
    if device.type == "cuda":
        flops = count_flops(False, args.preset, args.resolution)
        for k in ("old", "new"):
            mfu = flops * med[k] / (args.peak_tflops * 1e12)
            print(f"MFU {k}: {flops / 1e9:.0f} GFLOP/image x {med[k]:.1f} images/s = "
                  f"{flops * med[k] / 1e12:.0f} TFLOP/s, {mfu:.1%} of {args.peak_tflops:.0f} TFLOP/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--big-steps", type=int, default=2)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--compare", action="store_true", help="old vs new trainer step, side by side")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="cpu-f4c4")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="--compare: torch.compile the new step")
    ap.add_argument("--old-threads", type=int, help="--compare: torch threads for the old step "
                    "(default --threads; the CPU ablation config used 2)")
    ap.add_argument("--new-threads", type=int, help="--compare: torch threads for the new step "
                    "(default --threads)")
    ap.add_argument("--peak-tflops", type=float, default=989.0,
                    help="dense bf16 peak for the MFU (H100/H200 SXM: 989)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.compare:
        return compare(args)
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
