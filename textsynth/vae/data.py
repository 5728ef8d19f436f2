"""Training data: webdataset pipelines per source, mixed by probability, staged by step.

Sources (``data.sources``) are shard directories written by ``textsynth synth`` /
``textsynth curate`` (members ``KEY.png`` + ``KEY.json``) or plain folders of images
(general photos). Each source is an endless webdataset pipeline:

    shard/file list, reshuffled every epoch (seeded)  ->  tar samples (textsynth.shardio: no
    sparse or oversized members)
    ->  size-bucket filter (from the sample's JSON)   ->  shuffle buffer (seeded)

and a *phase* mixes them with ``wds.RandomMix`` by its probabilities, then batches, decodes
and crops to the training resolution. Text sources are cropped at native scale (resizing
would change the character size their ``size_bucket`` promises); general photos get a random
crop of 1-4x the resolution, resized down (``crop_scale``).

The staged text-infusion schedule (report §4.3) is ``data.stages``: each stage starts at a
step and has a mix; a stage may also walk synthetic size buckets from large to small
(``size_buckets``). Every (stage, bucket set) pair is a :class:`Phase`; the trainer asks for
batches from a step on and gets a new loader at each phase boundary.

Determinism and resume: every random choice is seeded by (seed, phase, stream, batch), where a
stream is one loader process of one trainer rank. Batch j of a phase comes from stream
``j % num_workers`` (the DataLoader's in-order round robin), so resuming at step s rebuilds
the phase's loader with every stream skipping the batches it had already produced, without
decoding them: the same batches follow as in an unbroken run (``data.resume: exact``; same
``num_workers`` and world size needed). ``reseed`` starts a fresh order instead (no
skipping cost).
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import webdataset as wds
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from textsynth.shardio import Refused, child, is_uri, public_uri, shard_uris, tar_samples
from textsynth.synthesis.backgrounds import IMAGE_SUFFIXES

log = logging.getLogger("textsynth.vae")

IMAGE_MEMBERS = ("png", "jpg", "jpeg", "webp")


def seed_of(*parts: int) -> int:
    """One 32-bit seed from several integers (no Python hash randomisation involved)."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


# ------------------------------------------------------------------------------------- inputs

def resolve(path: str) -> Path:
    """``assets:NAME`` is a folder of the asset cache ($TEXTSYNTH_HOME/NAME); ``~`` and
    ``$VARS`` expand; relative paths are relative to the current directory."""
    if path.startswith("assets:"):
        from textsynth import paths

        return paths.home() / path.split(":", 1)[1]
    return Path(os.path.expandvars(path)).expanduser().resolve()


def list_items(name: str, paths: list[str]) -> list[tuple[str, str]]:
    """Every input of a source as ``(kind, path)``, kind ``tar`` or ``image``, sorted."""
    items: list[tuple[str, str]] = []
    for p in paths:
        if is_uri(p) or "{" in p:   # shards on an object store (a folder, an output, a pattern)
            tars = shard_uris(child(p, "shards")) or shard_uris(p)
            if not tars:
                raise FileNotFoundError(f"data.sources.{name}.paths: no .tar shards at {public_uri(p)}")
            items += [("tar", t) for t in tars]
            continue
        path = resolve(p)
        if path.is_file() and path.suffix == ".tar":
            items.append(("tar", str(path)))
        elif path.is_dir():
            shard_dir = path / "shards" if (path / "shards").is_dir() else path
            tars = sorted(shard_dir.glob("*.tar"))
            if tars:
                items += [("tar", str(t)) for t in tars]
            else:
                items += [("image", str(f)) for f in sorted(path.rglob("*"))
                          if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
        else:
            raise FileNotFoundError(f"data.sources.{name}.paths: {p} ({path}) does not exist")
    if not items:
        raise FileNotFoundError(f"data.sources.{name}: no .tar shards or images under {paths}")
    return items


def source_items(cfg: dict, phases: list | None = None) -> dict[str, list[tuple[str, str]]]:
    """The inputs of every source some phase mixes in; FileNotFoundError naming the source
    when one is missing or empty (``train`` calls this before it writes anything)."""
    used = {n for p in (phases or build_phases(cfg)) for n in p.mix}
    items, missing = {}, {}
    for n, src in cfg["data"]["sources"].items():
        if n in used:
            try:
                items[n] = list_items(n, src["paths"])
            except FileNotFoundError as e:
                missing[n] = str(e)
    if missing:
        raise FileNotFoundError(missing_sources_message(missing))
    return items


def missing_sources_message(missing: dict[str, str]) -> str:
    """Every missing source at once (fixing one should not reveal the next), and the --set
    that points each elsewhere: a config's relative paths (the tiny config's out/demo/...)
    are read from the current directory, so they exist only where that output was written."""
    sets = " ".join(f"--set data.sources.{n}.paths='[DIR]'" for n in missing)
    return "\n  ".join([*missing.values(),
                        f"relative paths are read from the current directory ({Path.cwd()}); point "
                        f"each source at a synth/curate output dir, a folder of .tar shards or of "
                        f"images: {sets}"])


# ------------------------------------------------------------------------------------- phases

@dataclass(frozen=True)
class Phase:
    index: int
    stage: int
    name: str                    # stage name
    start: int                   # first step
    end: int | None              # first step of the next phase (None: runs to the end)
    mix: dict                    # source -> probability (normalised, zeros dropped)
    buckets: tuple | None        # size buckets kept for bucket_sources (None: all)
    bucket_sources: tuple
    resolution: int

    def describe(self) -> str:
        mix = " ".join(f"{k} {v:.2f}" for k, v in self.mix.items())
        b = f"; {'/'.join(self.bucket_sources)} buckets {','.join(self.buckets)}" if self.buckets else ""
        return f"stage {self.stage + 1} '{self.name}' from step {self.start} at {self.resolution}px: mix {mix}{b}"


def balanced(mix: dict, sources: dict, general_share: float | None) -> dict:
    """``mix`` normalised; with ``general_share`` set and both roles present, general sources
    get that share in total and text sources the rest (each keeps its relative weight)."""
    mix = {k: float(v) for k, v in mix.items() if v > 0}
    roles = {k: sources[k]["role"] for k in mix}
    g = sum(v for k, v in mix.items() if roles[k] == "general")
    t = sum(v for k, v in mix.items() if roles[k] == "text")
    if general_share is not None and g > 0 and t > 0:
        return {k: (general_share * v / g if roles[k] == "general" else (1 - general_share) * v / t)
                for k, v in mix.items()}
    total = g + t
    return {k: v / total for k, v in mix.items()}


def build_phases(cfg: dict) -> list[Phase]:
    d, max_steps = cfg["data"], cfg["train"]["max_steps"]
    out: list[Phase] = []
    stages = d["stages"]
    for i, st in enumerate(stages):
        end = stages[i + 1]["start"] if i + 1 < len(stages) else None
        mix = balanced(st["mix"], d["sources"], d["general_share"])
        cuts = [(st["start"], None)] + [(p["start"], tuple(p["buckets"])) for p in st["size_buckets"]]
        if len(cuts) > 1 and cuts[1][0] == st["start"]:
            cuts = cuts[1:]
        for j, (start, buckets) in enumerate(cuts):
            stop = cuts[j + 1][0] if j + 1 < len(cuts) else end
            out.append(Phase(len(out), i, st["name"], start, stop, mix, buckets,
                             tuple(st["bucket_sources"]), st["resolution"] or d["resolution"]))
    if out[-1].start >= max_steps:
        log.warning("data.stages: the last phase starts at step %d, after train.max_steps %d",
                    out[-1].start, max_steps)
    return out


# ----------------------------------------------------------------------- one source, endless

def _tar_samples(path: str):
    for key, files in tar_samples(path):
        if isinstance(files, Refused):
            raise ValueError(f"{path}: sample {key} not read: {files}")
        image = next((files[k] for k in IMAGE_MEMBERS if k in files), None)
        if image is None:
            continue
        meta = json.loads(files["json"]) if "json" in files else {}
        yield {"__key__": key, "image": image, "meta": meta}


def source_samples(name: str, items: list, seed: int, buckets: tuple | None):
    """Raw samples (encoded image bytes + metadata) of one source, epoch after epoch, the
    order of its files reshuffled each epoch; only ``buckets`` when given."""
    for epoch in itertools.count():
        order = list(items)
        random.Random(seed_of(seed, epoch)).shuffle(order)
        n = 0
        for kind, path in order:
            samples = (_tar_samples(path) if kind == "tar" else
                       [{"__key__": Path(path).stem, "image": Path(path).read_bytes(), "meta": {}}])
            for s in samples:
                if buckets is not None and s["meta"].get("size_bucket") not in buckets:
                    continue
                n += 1
                yield {**s, "__source__": name}
        if n == 0:
            raise ValueError(f"data source '{name}' has no samples"
                             + (f" in size buckets {list(buckets)}" if buckets else ""))


def source_pipeline(name: str, items: list, seed: int, buckets: tuple | None, shuffle: int):
    return wds.DataPipeline(
        lambda: source_samples(name, items, seed, buckets),
        wds.shuffle(shuffle, initial=min(shuffle, 100), rng=random.Random(seed_of(seed, 1))),
    )


# -------------------------------------------------------------------------------- decoding

def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def random_crop(img: np.ndarray, res: int, scale: list[float], rng: np.random.Generator) -> np.ndarray:
    """A square crop whose side is drawn from [res·scale[0], res·scale[1]] (limited by the
    image), resized to res x res. Images too small are first scaled up to fit."""
    lo = max(1, round(res * scale[0]))
    h, w = img.shape[:2]
    if min(h, w) < lo:
        k = lo / min(h, w)
        img = cv2.resize(img, (max(lo, round(w * k)), max(lo, round(h * k))), interpolation=cv2.INTER_CUBIC)
        h, w = img.shape[:2]
    hi = max(lo, min(round(res * scale[1]), h, w))
    side = int(rng.integers(lo, hi + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = img[y:y + side, x:x + side]
    if side != res:
        crop = cv2.resize(crop, (res, res), interpolation=cv2.INTER_AREA if side > res else cv2.INTER_CUBIC)
    return np.ascontiguousarray(crop)


# ------------------------------------------------------------------------ one phase, batched

def stream_share(items: list, stream: int, n_streams: int) -> list:
    """The inputs one loader stream reads: its own slice when there is a file for every
    stream (so ranks and loader processes never read the same shard), else all of them."""
    return items[stream::n_streams] if len(items) >= n_streams else items


class PhaseStream(IterableDataset):
    """Batches ``(uint8 images (B, 3, R, R), source ids (B,))`` of one phase for one rank.

    Loader process i plays stream role ``(i + skip) % num_workers`` so that after skipping
    ``skip`` batches the DataLoader's round robin continues the original batch order."""

    def __init__(self, phase: Phase, sources: dict, items: dict, source_names: list[str],
                 batch_size: int, shuffle: int, seed: int, rank: int, world: int, skip: int):
        self.phase, self.sources, self.items = phase, sources, items
        self.source_names = source_names
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.rank, self.world, self.skip = rank, world, skip

    def __iter__(self):
        info = get_worker_info()
        i, nw = (info.id, info.num_workers) if info else (0, 1)
        role = (i + self.skip) % nw
        stream, n_streams = self.rank * nw + role, self.world * nw
        skip = max(0, (self.skip - role + nw - 1) // nw)   # batches j < skip with j % nw == role
        ph = self.phase
        names = list(ph.mix)
        pipes = []
        for k, name in enumerate(names):
            items = stream_share(self.items[name], stream, n_streams)
            buckets = ph.buckets if name in ph.bucket_sources else None
            pipes.append(source_pipeline(name, items, seed_of(self.seed, ph.index, stream, k),
                                         buckets, self.shuffle))
        # wds.RandomMix draws from the module-level `random`: seed it for this stream.
        random.seed(seed_of(self.seed, ph.index, stream, 999))
        mix = iter(wds.RandomMix(pipes, [ph.mix[n] for n in names]))
        for b in itertools.count():
            raw = [next(mix) for _ in range(self.batch_size)]
            if b < skip:
                continue                     # consumed before the resume point: not decoded
            imgs = []
            for j, s in enumerate(raw):
                rng = np.random.default_rng([self.seed, ph.index, stream, b, j])
                scale = self.sources[s["__source__"]]["crop_scale"]
                try:
                    img = decode(s["image"])
                except Exception as e:
                    raise ValueError(f"cannot decode sample {s['__key__']} of source "
                                     f"{s['__source__']}: {e}") from None
                imgs.append(random_crop(img, ph.resolution, scale, rng))
            x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()
            src = torch.tensor([self.source_names.index(s["__source__"]) for s in raw])
            yield x, src


class StagedData:
    """The staged data schedule of one trainer rank: ``batches(step)`` yields
    ``(step, phase, images uint8 (B,3,R,R), source ids)`` from ``step`` on, forever."""

    def __init__(self, cfg: dict, rank: int = 0, world: int = 1, pin_memory: bool = False):
        d = cfg["data"]
        self.cfg, self.rank, self.world, self.pin_memory = cfg, rank, world, pin_memory
        self.seed = cfg["seed"]
        self.sources = d["sources"]
        self.source_names = list(self.sources)
        self.phases = build_phases(cfg)
        self.items = source_items(cfg, self.phases)

    def rank_inputs(self) -> dict[str, list[str]]:
        """Per source, the files this rank's loader streams read (keys stripped from URIs)."""
        nw = max(1, self.cfg["data"]["num_workers"])
        streams = range(self.rank * nw, (self.rank + 1) * nw)
        return {name: sorted({public_uri(path) for s in streams
                              for _, path in stream_share(items, s, self.world * nw)})
                for name, items in self.items.items()}

    def phase_at(self, step: int) -> Phase:
        ph = self.phases[0]
        for p in self.phases:
            if p.start <= step:
                ph = p
        return ph

    def stream(self, phase: Phase, skip: int, seed: int | None = None) -> PhaseStream:
        d = self.cfg["data"]
        return PhaseStream(phase, self.sources, self.items, self.source_names, d["batch_size"],
                           d["shuffle_buffer"], self.seed if seed is None else seed,
                           self.rank, self.world, skip)

    def loader(self, phase: Phase, skip: int, seed: int | None = None) -> DataLoader:
        nw = self.cfg["data"]["num_workers"]
        return DataLoader(self.stream(phase, skip, seed), batch_size=None, num_workers=nw,
                          pin_memory=self.pin_memory, prefetch_factor=4 if nw else None)

    def batches(self, step: int = 0):
        exact = self.cfg["data"]["resume"] == "exact"
        first = True
        while True:
            ph = self.phase_at(step)
            if exact or not first or step == ph.start:
                it = iter(self.loader(ph, step - ph.start))
            else:  # reseed: a fresh order for the rest of this phase, nothing skipped
                it = iter(self.loader(ph, 0, seed_of(self.seed, step)))
            first = False
            while ph.end is None or step < ph.end:
                x, src = next(it)
                yield step, ph, x, src
                step += 1
            del it
