"""The training loop, readable top to bottom (nanoGPT style).

    run(cfg, out)            one process (CPU or one GPU), or Ray Train's TorchTrainer with
                             N workers (DDP; gloo on CPU, NCCL on GPUs) when workers > 1
    train_loop(cfg, out)     what every worker runs

Per step (``train_step``): a batch from the staged data schedule -> VAE forward (channels-last,
bf16 autocast on CUDA, optionally torch.compile'd) ->
L1 + λ·LPIPS + λ·(L_mcos + L_mdms) -> backward -> grad clip -> AdamW -> warmup+cosine LR
-> optional EMA. Rank 0 writes ``out/log.csv`` (and TensorBoard when installed), a
reconstruction grid every ``sample_every`` steps (``out/samples/``), and checkpoints
(``out/checkpoints/step_N.pt`` + ``last.pt``) holding model, projection, EMA, optimiser,
scheduler, step, stage and data layout, as tensors and plain data only (see
``checkpoint``: they load with ``weights_only=True``); ``resume`` continues from ``last.pt``
with the same next batch and the same next loss as an unbroken run. ``out/vae.pt`` is the
final weights-only export that ``textsynth eval --model`` reads.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import math
import os
import time
from collections import Counter, deque
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from textsynth.vae.checkpoint import (
    FORMAT,
    TRAINING_KEYS,
    CheckpointError,
    check_plain,
    load_checkpoint,
    save_checkpoint,
)
from textsynth.ray_driver import this_node
from textsynth.vae.data import StagedData, source_items
from textsynth.vae.losses import AlignProjection, Objective
from textsynth.vae.model import VAE, model_config

log = logging.getLogger("textsynth.vae")

PART_KEYS = ["loss", "l1", "lpips", "mcos", "mdms", "m_cos", "m_dist"]


class Autoencoding(nn.Module):
    """What the optimiser trains: the VAE and the alignment projection W (one module, so
    DDP synchronises both)."""

    def __init__(self, vae: VAE, proj: AlignProjection | None):
        super().__init__()
        self.vae, self.proj = vae, proj

    def forward(self, x: torch.Tensor):
        recon, z = self.vae(x)
        return recon, z, (self.proj(z) if self.proj is not None else None)


def vae_config_of(cfg: dict):
    m = cfg["model"]
    return model_config(m["name"], **{k: v for k, v in m.items() if k != "name"})


def build(cfg: dict) -> tuple[Autoencoding, Objective]:
    """The trainable module (seeded init) and the objective with its frozen nets."""
    lc = cfg["loss"]
    lpips = teacher = None
    with torch.random.fork_rng(devices=[]):   # frozen nets never shift the VAE's init
        if lc["lpips"]["weight"] > 0:
            from textsynth.vae.lpips import build as build_lpips

            lpips = build_lpips(lc["lpips"]["net"])
        if lc["align"]["weight"] > 0:
            from textsynth.vae.semantic import Teacher

            a = lc["align"]
            teacher = Teacher(a["model"], a["layer"], a["resolution"])
    torch.manual_seed(cfg["seed"])
    vae = VAE(vae_config_of(cfg))
    proj = AlignProjection(vae.cfg.latent_channels, teacher.width) if teacher is not None else None
    return Autoencoding(vae, proj), Objective(lc, lpips, teacher)


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on conv/linear weights only, not on biases and norms (as nanoGPT)."""
    params = [p for p in module.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


def lr_factor(step: int, t: dict) -> float:
    """Linear warmup to lr, then cosine decay to min_lr at max_steps (as a factor of lr)."""
    if step < t["warmup_steps"]:
        return (step + 1) / t["warmup_steps"]
    span = max(1, t["max_steps"] - t["warmup_steps"])
    progress = min(1.0, (step - t["warmup_steps"]) / span)
    floor = t["min_lr"] / t["lr"]
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class EMA:
    """Exponential moving average of the VAE's weights (buffers copied)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        torch._foreach_lerp_(list(self.model.parameters()), [p.detach() for p in model.parameters()],
                             1 - self.decay)   # one kernel launch per group, not per tensor
        for e, b in zip(self.model.buffers(), model.buffers()):
            e.copy_(b)


# ---------------------------------------------------------------------------------- the step

def place(module: nn.Module, objective: nn.Module, device: torch.device, channels_last: bool) -> None:
    """Move the trainable module and the objective's frozen nets to ``device``; with
    ``channels_last`` their conv weights are NHWC, the layout oneDNN (CPU) and cuDNN (tensor
    cores) run convolutions in natively, so no conv reorders its input and output."""
    fmt = torch.channels_last if channels_last else torch.preserve_format
    module.to(device, memory_format=fmt)
    objective.to(device, memory_format=fmt)


def to_input(xb: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """A uint8 (B, 3, H, W) batch -> float in [-1, 1] on ``device`` (NHWC with
    ``channels_last``); the layout change happens on the uint8 copy, 4x fewer bytes."""
    x = xb.to(device, non_blocking=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x.float().div_(127.5).sub_(1.0)


def optimizer(module: nn.Module, t: dict, device: torch.device) -> torch.optim.AdamW:
    """AdamW: the fused kernel on CUDA, the multi-tensor (foreach) one elsewhere (the
    same update as the per-tensor loop, in a few big ops instead of ~100 small ones)."""
    fast = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.AdamW(param_groups(module, t["weight_decay"]), lr=t["lr"],
                             betas=tuple(t["betas"]), **fast)


def train_step(forward: nn.Module, module: nn.Module, objective, opt, x: torch.Tensor, step: int,
               grad_clip: float, use_bf16: bool) -> tuple[dict, float]:
    """One optimisation step: forward (``forward`` is the module, its DDP wrapper or a
    compiled one) and loss under autocast, backward, gradient clipping, AdamW. Returns the
    loss parts (floats) and the gradient norm before clipping."""
    module.train()
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=use_bf16):
        recon, _, zp = forward(x)
        loss, parts = objective(x, recon, zp, step)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(module.parameters(), grad_clip, foreach=True))
    opt.step()
    return parts, grad_norm


# ------------------------------------------------------------------------------ checkpoints

def restore(path: Path, state: dict, module: Autoencoding, ema: EMA | None, opt, sched) -> None:
    """Load a training checkpoint's states into the trainer's objects; a state that does not
    fit them (other shapes, a mangled optimiser state) is a CheckpointError naming ``path``."""
    try:
        module.vae.load_state_dict(state["model"])
        if module.proj is not None and state.get("proj") is not None:
            module.proj.load_state_dict(state["proj"])
        if ema is not None and state.get("ema") is not None:
            ema.model.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise CheckpointError(path, f"its states do not fit this trainer: {e}") from None


def write_checkpoint(out: Path, state: dict, keep: int) -> Path:
    ck = out / "checkpoints"
    path = ck / f"step_{state['step']:08d}.pt"
    save_checkpoint(path, state)
    tmp = ck / "last.pt.tmp"
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)                    # last.pt: a second name, no second copy
    except OSError:
        save_checkpoint(tmp, state)
    os.replace(tmp, ck / "last.pt")
    for old in sorted(ck.glob("step_*.pt"))[:-keep]:
        old.unlink()
    return path


def export_weights(out: Path, vae: VAE, ema: EMA | None, step: int, cfg: dict,
                   name: str = "vae.pt") -> Path:
    """``out/vae.pt`` (or ``out/NAME``): model config + (EMA) weights, what
    load_reconstructor needs."""
    model = ema.model if ema is not None else vae
    path = out / name
    save_checkpoint(path, {"format": FORMAT, "model_config": vae.cfg.as_dict(),
                           "model": model.state_dict(), "ema_weights": ema is not None,
                           "step": step, "config": cfg})
    return path


# ---------------------------------------------------------------------------------- logging

class Logger:
    """CSV (always) and TensorBoard (when importable) on rank 0."""

    def __init__(self, out: Path, sources: list[str], resume_step: int):
        self.path = out / "log.csv"
        self.fields = ["step", "phase", "stage", "lr", *PART_KEYS, "grad_norm", "images_per_s",
                       *[f"n_{s}" for s in sources]]
        rows = []
        if resume_step and self.path.exists():  # drop rows logged after the checkpoint
            with self.path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) < resume_step]
        with self.path.open("w", newline="") as f:
            w = csv.DictWriter(f, self.fields)
            w.writeheader()
            w.writerows(rows)
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"))
        except Exception:  # tensorboard is optional
            log.info("TensorBoard not installed: logging to %s only", self.path)

    def write(self, row: dict) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields, extrasaction="ignore").writerow(row)
        if self.tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "step":
                    self.tb.add_scalar(k, v, row["step"])


@torch.no_grad()
def save_grid(path: Path, x: torch.Tensor, recon: torch.Tensor) -> None:
    """Originals on the top row, reconstructions below (uint8 PNG)."""
    from PIL import Image

    def strip(t):
        t = ((t.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
        return torch.cat(list(t.permute(0, 2, 3, 1)), dim=1)   # (H, n·W, 3)

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(torch.cat([strip(x), strip(recon)], dim=0).numpy()).save(path)


def setup_logging(out: Path | None = None) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("textsynth").setLevel(logging.INFO)
    if out is not None:   # one run log at a time: drop the previous run's file handler
        vlog = logging.getLogger("textsynth.vae")
        for h in [h for h in vlog.handlers if getattr(h, "_textsynth_run", False)]:
            vlog.removeHandler(h)
            h.close()
        out.mkdir(parents=True, exist_ok=True)
        h = logging.FileHandler(out / "train.log")
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        h._textsynth_run = True
        vlog.addHandler(h)


# -------------------------------------------------------------------------------- the loop

def train_loop(cfg: dict, out: str | Path, resume: bool = False, stop_at: int | None = None,
               rank: int = 0, world: int = 1, device: torch.device | None = None,
               progress: bool = False) -> dict:
    """Train from step 0 (or from ``out/checkpoints/last.pt`` with ``resume``) until
    ``train.max_steps`` or, earlier, ``stop_at`` (as if interrupted: the schedule is
    unchanged). Returns a summary with the recent per-step losses (rank 0). ``progress``
    shows a bar on rank 0 counting training images, with the total and an ETA."""
    out = Path(out)
    t = cfg["train"]
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu" and t["cpu_threads"]:
        torch.set_num_threads(t["cpu_threads"])   # small CPU models: threads mostly wait
    check_plain(cfg, "config")   # it goes into every checkpoint: refuse it now, not at the first
    if rank == 0:
        setup_logging(out)
    last = out / "checkpoints" / "last.pt"
    if rank == 0 and not resume and last.exists():
        raise FileExistsError(f"{out} already has checkpoints: pass --resume to continue, or "
                              "choose another --out")

    module, objective = build(cfg)
    place(module, objective, device, t["channels_last"])
    vae = module.vae
    ema = EMA(vae, t["ema"]) if t["ema"] > 0 else None
    opt = optimizer(module, t, device)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, t))
    step = 0
    if resume and last.exists():
        state = load_checkpoint(last, map_location=device, require=TRAINING_KEYS)
        if state["model_config"] != vae.cfg.as_dict():
            raise ValueError(f"{last}: checkpoint model {state['model_config']} differs from the "
                             f"config's {vae.cfg.as_dict()}")
        restore(last, state, module, ema, opt, sched)
        step = state["step"]
        layout = {"num_workers": cfg["data"]["num_workers"], "world": world,
                  "batch_size": cfg["data"]["batch_size"]}
        if state.get("data_layout") != layout and cfg["data"]["resume"] == "exact":
            log.warning("resume: data layout %s differs from the checkpoint's %s; the data order "
                        "will differ from an unbroken run", layout, state.get("data_layout"))
        if rank == 0:
            log.info("resumed from %s at step %d (stage %s)", last, step, state.get("stage"))
    elif resume and rank == 0:
        log.info("resume: no checkpoint in %s, starting at step 0", out)

    ddp = module
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp = DDP(module, device_ids=[device.index] if device.type == "cuda" else None)
    if t["compile"]:
        ddp = torch.compile(ddp)

    data = StagedData(cfg, rank, world, pin_memory=device.type == "cuda")
    use_bf16 = t["bf16"] and (device.type == "cuda" or t["cpu_bf16"])
    end = min(t["max_steps"], stop_at if stop_at is not None else t["max_steps"])
    logger = Logger(out, data.source_names, step) if rank == 0 else None
    if rank == 0:
        (out / "config.yaml").write_text(_yaml(cfg))
        _announce(objective, vae, world, device, use_bf16)

    per_step = cfg["data"]["batch_size"] * world
    bar = tqdm(total=end * per_step, initial=min(step, end) * per_step, unit="img", desc="train",
               disable=not (progress and rank == 0), smoothing=0.1)
    history: deque = deque(maxlen=10000)
    interval: list[dict] = []
    counts: Counter = Counter()
    phase = None
    t_last, n_last = time.perf_counter(), 0
    start = step                              # where this call began (after a resume)
    batches = data.batches(step) if step < end else iter(())
    for step, ph, xb, src in batches:
        if ph is not phase:
            phase = ph
            if rank == 0:
                log.info("%s", ph.describe())
        x = to_input(xb, device, t["channels_last"])
        lr = opt.param_groups[0]["lr"]
        parts, grad_norm = train_step(ddp, module, objective, opt, x, step, t["grad_clip"], use_bf16)
        sched.step()
        if ema is not None:
            ema.update(vae)
        if not math.isfinite(parts["loss"]):
            raise FloatingPointError(f"loss is {parts['loss']} at step {step}")
        counts.update(data.source_names[i] for i in src.tolist())
        n_last += x.shape[0]
        bar.update(per_step)
        record = {"step": step, "phase": ph.index, "stage": ph.stage + 1, "lr": lr,
                  "grad_norm": grad_norm, **parts}
        history.append(record)
        interval.append(record)
        done = step + 1
        if done % t["log_every"] == 0 or done == end:
            row = _mean_row(interval, world, device)
            dt = time.perf_counter() - t_last
            row.update(step=step, phase=ph.index, stage=ph.stage + 1,
                       images_per_s=round(n_last * world / max(dt, 1e-9), 2),
                       **{f"n_{s}": counts[s] for s in data.source_names})
            if rank == 0:
                logger.write(row)
                log.info("step %d stage %d loss %.4f l1 %.4f lr %.2e %.1f img/s", step, row["stage"],
                         row["loss"], row["l1"], lr, row["images_per_s"])
            interval, counts, t_last, n_last = [], Counter(), time.perf_counter(), 0
        if rank == 0 and t["sample_every"] and (done % t["sample_every"] == 0 or done == end):
            shown = ema.model if ema is not None else vae
            shown.eval()
            with torch.no_grad(), torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                                                 enabled=use_bf16):
                save_grid(out / "samples" / f"step_{done:08d}.png", x[:8], shown(x[:8])[0])
        if rank == 0 and t["snapshot_every"] and done % t["snapshot_every"] == 0:
            export_weights(out, vae, ema, done, cfg, f"snapshots/step_{done:08d}.pt")
        if done % t["ckpt_every"] == 0 or done == end:
            if rank == 0:
                write_checkpoint(out, {
                    "format": FORMAT, "model_config": vae.cfg.as_dict(), "model": vae.state_dict(),
                    "proj": module.proj.state_dict() if module.proj is not None else None,
                    "ema": ema.model.state_dict() if ema is not None else None,
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "step": done, "phase": ph.index, "stage": ph.name,
                    "data_layout": {"num_workers": cfg["data"]["num_workers"], "world": world,
                                    "batch_size": cfg["data"]["batch_size"]},
                    "config": cfg}, t["keep_checkpoints"])
            if world > 1:
                dist.barrier()
        if done >= end:
            break
    bar.close()
    if hasattr(batches, "close"):
        batches.close()      # stops the loader processes
    final = step + 1 if history else step
    summary = {"rank": rank, "world": world, "start": start, "step": final, "history": list(history),
               "param_checksum": float(sum(p.detach().double().sum() for p in vae.parameters())),
               "node": this_node(), "inputs": data.rank_inputs()}
    if device.type == "cuda":
        summary["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 2)
        summary["gpu"] = torch.cuda.get_device_name(device)
        if rank == 0:
            log.info("peak GPU memory %.2f GiB on %s", summary["peak_gpu_memory_gib"], summary["gpu"])
    (out / "ranks").mkdir(parents=True, exist_ok=True)
    (out / "ranks" / f"rank{rank}.json").write_text(json.dumps(
        {k: v for k, v in summary.items() if k != "history"}))
    if rank == 0:
        if final >= t["max_steps"]:
            summary["weights"] = str(export_weights(out, vae, ema, final, cfg))
        summary["checkpoint"] = str(last)
        log.info("stopped at step %d; checkpoint %s", final, last)
    return summary


def _mean_row(records: list[dict], world: int, device) -> dict:
    keys = [k for k in PART_KEYS + ["grad_norm"] if k in records[0]]
    vals = torch.tensor([[r.get(k, 0.0) for k in keys] for r in records], dtype=torch.float64).mean(0)
    if world > 1:
        vals = vals.to(device)
        dist.all_reduce(vals)
        vals = vals.cpu() / world
    return {"lr": records[-1]["lr"], **{k: float(v) for k, v in zip(keys, vals)}}


def _announce(objective: Objective, vae: VAE, world: int, device, use_bf16: bool) -> None:
    from textsynth.vae.model import count_params

    log.info("VAE f%d c%d: encoder %.2fM, decoder %.2fM parameters; %d worker(s) on %s%s",
             vae.cfg.f, vae.cfg.latent_channels, count_params(vae.encoder) / 1e6,
             count_params(vae.decoder) / 1e6, world, device.type, ", bf16 autocast" if use_bf16 else "")
    if objective.lpips is not None and not objective.lpips.pretrained:
        log.warning("LPIPS term: RANDOM weights (see warning above)")
    if objective.teacher is not None and not objective.teacher.pretrained:
        log.warning("alignment term: RANDOM DINOv2 (see warning above)")


def _yaml(cfg: dict) -> str:
    import yaml

    return yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)


# ------------------------------------------------------------------------------ entry points

def _ray_worker(config: dict) -> None:
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    out = Path(config["out"])
    # run() refused an --out that had checkpoints unless resuming, so a checkpoint here was
    # written by this run before Ray Train restarted its workers (a worker or node died):
    # continue from it, as --resume would.
    resume = config["resume"] or (out / "checkpoints" / "last.pt").exists()
    if resume and not config["resume"] and ctx.get_world_rank() == 0:
        setup_logging(out)   # into the run's train.log, too
        log.warning("a worker was lost: the restarted workers resume from %s",
                    out / "checkpoints" / "last.pt")
    train_loop(config["cfg"], out, resume=resume, stop_at=config["stop_at"],
               rank=ctx.get_world_rank(), world=ctx.get_world_size(),
               device=ray.train.torch.get_device())


def run(cfg: dict, out: str | Path, resume: bool = False, workers: int | None = None,
        use_ray: bool | None = None, address: str | None = None, stop_at: int | None = None,
        use_gpu: bool | None = None, progress: bool = False) -> dict:
    """Train. One worker runs in this process unless ``use_ray``; more go through Ray
    Train's TorchTrainer (a local Ray is started when none is running or given). ``progress``
    shows an image-counting bar in the one-process case (Ray Train workers log instead)."""
    out = Path(out).expanduser().resolve()
    if not resume and (out / "checkpoints" / "last.pt").exists():
        raise FileExistsError(f"{out} already has checkpoints: pass --resume to continue, or "
                              "choose another --out")
    source_items(cfg)   # a missing or empty source is an error before anything is written
    workers = workers or cfg["train"]["workers"]
    use_ray = workers > 1 if use_ray is None else use_ray
    if not use_ray:
        with logging_redirect_tqdm():  # log lines print above the bar, not through it
            return train_loop(cfg, out, resume=resume, stop_at=stop_at, progress=progress)
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    setup_logging(None)
    from textsynth.ray_driver import quiet_token_auth_warning, start_local_ray

    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            quiet_token_auth_warning()
            ray.init(address=address)
        else:  # an embedded cluster, on 127.0.0.1 only
            start_local_ray()
    if use_gpu is None:
        use_gpu = ray.cluster_resources().get("GPU", 0) >= workers
    out.mkdir(parents=True, exist_ok=True)
    trainer = TorchTrainer(
        _ray_worker,
        train_loop_config={"cfg": cfg, "out": str(out), "resume": resume, "stop_at": stop_at},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
        # storage and --out must be one folder every node sees (on one machine, or shared)
        run_config=RunConfig(name="textsynth-vae", storage_path=str(out / "ray"),
                             failure_config=FailureConfig(max_failures=cfg["train"]["max_failures"])),
    )
    trainer.fit()
    rank0 = json.loads((out / "ranks" / "rank0.json").read_text())
    return {**rank0, "checkpoint": str(out / "checkpoints" / "last.pt"),
            **({"weights": str(out / "vae.pt")} if (out / "vae.pt").exists() else {})}


def summary_line(result: dict, out: str | Path) -> str:
    w = f"; weights {result['weights']}" if result.get("weights") else ""
    return (f"trained to step {result['step']} on {result['world']} worker(s); "
            f"log {Path(out) / 'log.csv'}, checkpoint {result['checkpoint']}{w}")

