"""Checkpoint files: written as plain data, read without running code from them.

A textsynth checkpoint is one dict saved by ``torch.save`` (a zip file): ``format``
(:data:`FORMAT`), ``model_config`` (plain values) and ``model`` (a state dict), plus for
training checkpoints :data:`TRAINING_KEYS` (``optimizer``, ``scheduler``, ``step``) and
more. Every value is a tensor or plain data (dict, list, tuple, str, int,
float, bool, None): :func:`save_checkpoint` refuses anything else before writing, so every
checkpoint loads with ``torch.load(weights_only=True)``, whose unpickler builds only those
types. A crafted file therefore cannot run code, and :func:`load_checkpoint`, the one reader
of checkpoints, never loads with ``weights_only=False``.

Files come from strangers too (``textsynth eval --model FILE``), so the reader also refuses,
as :class:`CheckpointError` ("not a textsynth checkpoint: PATH (reason)"), whatever could make
a small file take large memory: zip members that are compressed (torch writes them stored;
a deflated member can expand a thousandfold), tensors that claim more elements than their
stored bytes (a zero-stride view of one float can claim terabytes) and data nested deeper than
Python recursion goes.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path

import torch

FORMAT = "textsynth-vae-1"
MODEL_KEYS = ("model_config", "model")
TRAINING_KEYS = ("optimizer", "scheduler", "step")   # and MODEL_KEYS
PLAIN = (str, int, float, bool, type(None), torch.Tensor)


class CheckpointError(ValueError):
    """A file that is not a (loadable) textsynth checkpoint; the message names it and says why."""

    def __init__(self, path: str | Path, reason: str):
        reason = " ".join(reason.split())   # one line, whatever the library's message was
        super().__init__(f"not a textsynth checkpoint: {path} ({reason[:400]})")


def check_plain(value, where: str = "checkpoint") -> None:
    """Raise ValueError naming the first value that is not a tensor or plain data."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise ValueError(f"{where}: key {k!r} is a {type(k).__name__}, not str or int")
            check_plain(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_plain(v, f"{where}[{i}]")
    elif not isinstance(value, PLAIN):
        raise ValueError(f"{where} is a {type(value).__module__}.{type(value).__name__}: a checkpoint "
                        "holds only tensors and plain data (dict, list, str, int, float, bool, None)")


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` atomically (a temp file renamed), after checking it is plain data."""
    check_plain(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    require: tuple[str, ...] = ()) -> dict:
    """The checkpoint dict in ``path``, loaded with ``weights_only=True`` and checked to hold
    MODEL_KEYS and the ``require``d keys; anything else raises :class:`CheckpointError`."""
    path = Path(path)
    _check_container(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(path, "holds pickled objects other than tensors and plain data, "
                                    "which could run code; refused, nothing was run: "
                                    f"{_unpickler_reason(e)}") from None
    except Exception as e:   # any failure to parse hostile bytes means: not a checkpoint
        raise CheckpointError(path, f"unreadable as a torch file: {e}") from None
    try:
        _check_state(path, state, require)
    except RecursionError:   # a few bytes of pickle nest lists 10^5 deep
        raise CheckpointError(path, "data nested too deeply") from None
    return state


def _check_container(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(path, "not a file" if path.exists() else "no such file")
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(path, f"not a torch zip file: {e}") from None
    packed = [m.filename for m in members if m.compress_type != zipfile.ZIP_STORED]
    if packed:
        raise CheckpointError(path, f"compressed zip member {packed[0]} (torch.save stores members)")


def _check_state(path: Path, state, require: tuple[str, ...]) -> None:
    if not isinstance(state, dict) or "format" not in state:
        raise CheckpointError(path, f"{type(state).__name__} without a 'format' entry: a plain "
                                    "state dict or another program's file, not `textsynth train`'s")
    if state["format"] != FORMAT:
        raise CheckpointError(path, f"format {state['format']!r}, expected {FORMAT!r}")
    missing = [k for k in (*MODEL_KEYS, *require) if k not in state]
    if missing:
        raise CheckpointError(path, f"missing {', '.join(missing)}")
    if not isinstance(state["model_config"], dict):
        raise CheckpointError(path, "model_config is not a dict")
    for key in ("model", "ema"):
        weights = state.get(key)
        if weights is not None and not (isinstance(weights, dict) and all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items())):
            raise CheckpointError(path, f"{key} is not a state dict of named tensors")
    if "step" in require and not (type(state["step"]) is int and state["step"] >= 0):
        raise CheckpointError(path, f"step {state['step']!r} is not a step number")
    for where, t in _tensors(state, "checkpoint"):
        if t.numel() * t.element_size() > t.untyped_storage().nbytes():
            raise CheckpointError(path, f"{where}: a {tuple(t.shape)} tensor larger than its stored "
                                        f"{t.untyped_storage().nbytes()} bytes")


def _tensors(value, where: str):
    if isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _tensors(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _tensors(v, f"{where}[{i}]")


def _unpickler_reason(e: Exception) -> str:
    """torch's short reason ("Unsupported global: GLOBAL io.open ..."), without its advice to
    reload with weights_only=False."""
    m = re.search(r"WeightsUnpickler error: ([^\n]*?)(?: Please use|\n|$)", str(e))
    return m.group(1).strip() if m else type(e).__name__

