"""The base model every arm shares (issue 26): the general-domain stage, trained once.

Arms differ only in the data they see after the fork, so the stage before it (the same
general-only stages in every arm, ``base.steps`` long) is trained once and cached. Its key
hashes everything the base's weights depend on:

- the trainer config it trains with: model, losses, batch, resolution, LR schedule (the
  whole run's ``max_steps``: the base stands where an unbroken run would), its stages and
  ``base.seed``; not the intervals of logging, samples and checkpoints, which change no weight;
- its step count;
- the general source's content: every training photo's name and SHA-256 (the split enters
  through the files it kept for training).

The cache is ``CACHE/base-KEY/`` (CACHE: ``base.cache_dir``, else ``$TEXTSYNTH_HOME/experiments``):

    rounds/step_N.pt    the checkpoint at the fork step, which every run copies (loop.fork)
    log.csv             the trainer's log up to there (each run keeps it: its curves start at 0)
    base.json           what was trained and the key's inputs; written last

A base is trained in ``CACHE/base-KEY.partial/`` (a killed training resumes there) under a lock
and renamed into place only when complete, so a partial base is never reused.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from textsynth import paths
from textsynth.experiment.loop import round_checkpoint

log = logging.getLogger("textsynth.experiment")

# Trainer settings that change when things are written or how fast, not the weights (beyond
# float rounding).
NOT_IN_KEY = {"train": ("log_every", "sample_every", "ckpt_every", "snapshot_every",
                        "keep_checkpoints", "cpu_threads", "channels_last", "compile", "max_failures"),
              "data": ("resume",)}


def cache_root(cfg: dict) -> Path:
    d = cfg["base"]["cache_dir"]
    return Path(d).expanduser().resolve() if d else paths.home() / "experiments"


def general_files(general: dict) -> list[list[str]]:
    """``[name, sha256]`` of every file of the general source (sorted by name)."""
    from textsynth.experiment.splits import file_sha

    files = []
    for root in general["paths"]:
        root = Path(root)
        found = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        files += [[str(p.relative_to(root)) if p != root else p.name, file_sha(p)] for p in found]
    if not files:
        raise ValueError(f"base: the general source {general['paths']} holds no files")
    return sorted(files)


def key_inputs(tcfg: dict, steps: int) -> dict:
    """What the base's key hashes (also recorded in base.json)."""
    t = copy.deepcopy(tcfg)
    for sec, keys in NOT_IN_KEY.items():
        for k in keys:
            t.get(sec, {}).pop(k, None)
    general = t["data"].pop("sources")["general"]
    return {"steps": steps, "trainer": t,
            "general": {k: v for k, v in general.items() if k != "paths"},
            "general_files": general_files(general)}


def key_of(inputs: dict) -> str:
    text = json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def complete(d: Path, steps: int) -> bool:
    """A finished base: its marker and its fork checkpoint are there."""
    return (d / "base.json").is_file() and round_checkpoint(d, steps).is_file()


def ensure(tcfg: dict, steps: int, root: Path, train) -> dict:
    """The base for ``tcfg`` (its trainer config) and ``steps``: reused from ``root/base-KEY``
    when complete, else trained there by ``train(tcfg, dir, stop_at)``. Returns its key, dir,
    step and status (``reused`` or ``trained``)."""
    inputs = key_inputs(tcfg, steps)
    key = key_of(inputs)
    final = root / f"base-{key}"
    info = {"key": key, "dir": str(final), "step": steps}
    if complete(final, steps):
        log.info("base %s: reused (%s)", key, final)
        return {**info, "status": "reused"}
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"base-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)       # another experiment training the same base: wait
        if complete(final, steps):
            log.info("base %s: reused (%s; trained meanwhile by another experiment)", key, final)
            return {**info, "status": "reused"}
        if final.exists():                     # a base dir without its marker: never trusted
            log.warning("base %s: %s is incomplete; training it again", key, final)
            shutil.rmtree(final)
        partial = root / f"base-{key}.partial"
        log.info("base %s: training %d steps in %s", key, steps, partial)
        got = train(tcfg, partial, steps)
        shutil.rmtree(partial / "checkpoints", ignore_errors=True)   # rounds/ keeps the fork's
        marker = {"key": key, "steps": steps, "train": got, "inputs": inputs}
        tmp = partial / "base.json.tmp"
        tmp.write_text(json.dumps(marker, indent=1, ensure_ascii=False, default=str))
        os.replace(tmp, partial / "base.json")
        os.rename(partial, final)
    log.info("base %s: trained (%s)", key, final)
    return {**info, "status": "trained", "train": got}
