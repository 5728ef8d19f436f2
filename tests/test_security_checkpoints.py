"""Checkpoints from strangers never run code (issue 25, high severity 1).

`textsynth eval --model FILE` and `textsynth train --resume` read torch files that may come
from anyone. Every file here is a real torch (or not-quite-torch) file; the table runs each
through the real CLI and expects one line, `not a textsynth checkpoint: PATH (reason)`, exit
code 2, no traceback, nothing written, and above all no code run: the crafted pickles would
create a marker file if they were ever unpickled the unsafe way. Genuine checkpoints from a
tiny training run still evaluate and resume.
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from textsynth.cli import main
from textsynth.vae.checkpoint import FORMAT, load_checkpoint, save_checkpoint

BIN = Path(sys.executable).parent
MARKER = "pwned"


class Plant:
    """Unpickling this creates the file ``path`` (pickle calls ``open(path, 'w')``)."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.fixture(scope="module")
def tiny(assets, tmp_path_factory):
    """A 2-step tiny training run through the CLI (photos only, no LPIPS/alignment: seconds)."""
    root = tmp_path_factory.mktemp("ckpt")
    cfg = root / "tiny.yaml"
    cfg.write_text(f"""seed: 0
model: {{name: tiny}}
loss:
  lpips: {{weight: 0.0}}
  align: {{weight: 0.0}}
data:
  resolution: 32
  batch_size: 2
  num_workers: 0
  shuffle_buffer: 4
  sources: {{general: {{paths: ["{assets / 'backgrounds'}"]}}}}
  stages: [{{name: all, start: 0, mix: {{general: 1.0}}}}]
train: {{max_steps: 4, warmup_steps: 2, ckpt_every: 1, sample_every: 0, log_every: 1, ema: 0.9, cpu_threads: 1}}
""")
    run = root / "run"
    assert main(["train", "--config", str(cfg), "--out", str(run), "--max-steps", "2", "--quiet"]) == 0
    return {"config": cfg, "run": run}


@pytest.fixture(scope="module")
def bench(assets, tmp_path_factory):
    """A two-sample synthetic bench (large dark text on plain ground)."""
    from textsynth.config import load_config
    from textsynth.shards import filesystem, pack, publish
    from textsynth.synthesis.generate import Stats, make_sample
    from textsynth.synthesis.render import encode
    from textsynth.synthesis.resources import Resources

    res = Resources(load_config(size={"bucket_probs": {"17-20": 1.0}}, background={"mode": "plain"},
                                layout={"lines": [1, 2], "blocks": [1, 1]}))
    samples = []
    for i in range(2):
        img, meta = make_sample(res, 7, i, Stats())
        key = f"synth-000000-{i:06d}"
        samples.append((key, f"{key}.png", encode(img, "png"), meta))
    out = tmp_path_factory.mktemp("bench") / "b"
    fs, root = filesystem(str(out))
    fs.create_dir(f"{root}/shards", recursive=True)
    fs.create_dir(f"{root}/_completions", recursive=True)
    publish(fs, root, "synth-000000", *pack(samples), len(samples))
    return out


# ------------------------------------------------------------------------------ bad files

def _genuine(tiny) -> dict:
    return torch.load(tiny["run"] / "vae.pt", weights_only=True)


def torch_zip_with_pickle(p: Path, tiny) -> None:
    torch.save({**_genuine(tiny), "model_config": Plant(p.parent / MARKER)}, p)


def raw_pickle(p: Path, tiny) -> None:
    p.write_bytes(pickle.dumps(Plant(p.parent / MARKER)))


def random_bytes(p: Path, tiny) -> None:
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())


def empty(p: Path, tiny) -> None:
    p.write_bytes(b"")


def other_zip(p: Path, tiny) -> None:
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("archive/data.pkl", b"not a pickle")


def foreign_state_dict(p: Path, tiny) -> None:
    torch.save(torch.nn.Conv2d(3, 8, 3).state_dict(), p)


def numpy_metadata(p: Path, tiny) -> None:
    """Textsynth's layout, but a numpy scalar inside: loading it needs the unsafe unpickler."""
    torch.save({**_genuine(tiny), "step": np.int64(2)}, p)


def deflated(p: Path, tiny) -> None:
    """The genuine file with its zip members deflated: torch reads it, but a small deflated
    file can expand a thousandfold."""
    with zipfile.ZipFile(tiny["run"] / "vae.pt") as src, zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as dst:
        for m in src.infolist():
            dst.writestr(m.filename, src.read(m))


def zero_stride_weight(p: Path, tiny) -> None:
    """One stored float viewed as a 10^5 x 10^5 weight (40 GB once copied)."""
    state = _genuine(tiny)
    name = next(iter(state["model"]))
    state["model"][name] = torch.zeros(1).as_strided((100_000, 100_000), (0, 0))
    torch.save(state, p)


def huge_model_config(p: Path, tiny) -> None:
    """10^9 blocks per level: building that model would take hours and all memory."""
    state = _genuine(tiny)
    state["model_config"]["enc_blocks"] = [10 ** 9] * len(state["model_config"]["enc_blocks"])
    torch.save(state, p)


def negative_block_count(p: Path, tiny) -> None:
    """Block counts summing to little: 10^9 blocks on one level, -10^9 on another."""
    state = _genuine(tiny)
    state["model_config"]["enc_blocks"][:2] = [10 ** 9, -10 ** 9]
    torch.save(state, p)


def deeply_nested(p: Path, tiny) -> None:
    """A hand-written data.pkl (weights-only opcodes) nesting lists 10^5 deep, in torch's zip."""
    def text(s: str) -> bytes:
        return b"X" + struct.pack("<I", len(s)) + s.encode()

    n = 100_000
    pkl = (b"\x80\x02}(" + text("format") + text(FORMAT) + text("model_config") + b"}" + text("model")
           + b"}" + text("extra") + b"]" * n + b"a" * (n - 1) + b"u.")
    with zipfile.ZipFile(tiny["run"] / "vae.pt") as src, zipfile.ZipFile(p, "w") as dst:
        for m in src.infolist():
            dst.writestr(m, pkl if m.filename.endswith("/data.pkl") else src.read(m))


def missing(p: Path, tiny) -> None:
    pass


def weights_only_export(p: Path, tiny) -> None:
    """A genuine vae.pt where train --resume needs a full training checkpoint."""
    shutil.copyfile(tiny["run"] / "vae.pt", p)


EVAL_CASES = [
    (torch_zip_with_pickle, "refused, nothing was run"),
    (raw_pickle, "not a torch zip file"),
    (random_bytes, "not a torch zip file"),
    (empty, "not a torch zip file"),
    (other_zip, "unreadable as a torch file"),
    (foreign_state_dict, "without a 'format' entry"),
    (numpy_metadata, "refused, nothing was run"),
    (deflated, "compressed zip member"),
    (zero_stride_weight, "tensor larger than its stored 4 bytes"),
    (huge_model_config, "more than its"),
    (negative_block_count, "is not a VAE configuration"),
    (deeply_nested, "nested too deeply"),
    (missing, "no such file"),
]

RESUME_CASES = [
    (torch_zip_with_pickle, "refused, nothing was run"),
    (raw_pickle, "not a torch zip file"),
    (random_bytes, "not a torch zip file"),
    (foreign_state_dict, "without a 'format' entry"),
    (weights_only_export, "missing optimizer, scheduler"),
]


def _refused(capsys, rc: int, path: Path, reason: str) -> None:
    assert not (path.parent / MARKER).exists(), "the checkpoint ran code"
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.splitlines()[-1].startswith(f"error: not a textsynth checkpoint: {path} ("), err
    assert reason in err and "Traceback" not in err and "weights_only` set to `False" not in err, err


@pytest.mark.parametrize("make, reason", EVAL_CASES, ids=[m.__name__ for m, _ in EVAL_CASES])
def test_eval_refuses_a_file_that_is_not_a_textsynth_checkpoint(make, reason, tiny, bench, tmp_path, capsys):
    path = tmp_path / "model.pt"
    make(path, tiny)
    out = tmp_path / "eval"
    rc = main(["eval", "--bench", str(bench), "--model", str(path), "--out", str(out),
               "--cache-dir", str(tmp_path / "cache"), "--lpips", "none", "--quiet"])
    _refused(capsys, rc, path, reason)
    assert not out.exists()


@pytest.mark.parametrize("make, reason", RESUME_CASES, ids=[m.__name__ for m, _ in RESUME_CASES])
def test_resume_refuses_a_last_checkpoint_that_is_not_one(make, reason, tiny, tmp_path, capsys):
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True)
    make(last, tiny)
    rc = main(["train", "--config", str(tiny["config"]), "--out", str(out), "--resume", "--quiet"])
    _refused(capsys, rc, last, reason)


def test_the_textsynth_command_exits_nonzero_without_running_the_pickle(tiny, bench, tmp_path):
    path = tmp_path / "evil.pt"
    torch_zip_with_pickle(path, tiny)
    proc = subprocess.run([str(BIN / "textsynth"), "eval", "--bench", str(bench), "--model", str(path),
                           "--out", str(tmp_path / "eval"), "--lpips", "none"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: not a textsynth checkpoint: {path} (")
    assert "Traceback" not in proc.stderr and not (tmp_path / MARKER).exists()


def test_genuine_checkpoints_load_safely_evaluate_and_resume(tiny, bench, tmp_path, capsys):
    run = tiny["run"]
    # what training wrote is plain data: the safe unpickler alone reads it
    for f in (run / "vae.pt", run / "checkpoints" / "last.pt"):
        assert torch.load(f, weights_only=True)["format"] == FORMAT
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 2
    # eval takes the exported weights
    out = tmp_path / "eval"
    assert main(["eval", "--bench", str(bench), "--model", str(run / "vae.pt"), "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--lpips", "none", "--quiet", "--limit", "1"]) == 0
    assert (out / "metrics.json").is_file()
    # resume continues from the saved step
    resumed = tmp_path / "run"
    shutil.copytree(run, resumed)
    capsys.readouterr()
    assert main(["train", "--config", str(tiny["config"]), "--out", str(resumed), "--resume", "--quiet"]) == 0
    assert "trained to step 4" in capsys.readouterr().out
    assert f"resumed from {resumed / 'checkpoints' / 'last.pt'} at step 2" in (resumed / "train.log").read_text()
    assert load_checkpoint(resumed / "checkpoints" / "last.pt")["step"] == 4


@pytest.mark.parametrize("value, refused", [
    (np.int64(3), "checkpoint.extra is a numpy.int64"),
    (Path("x"), "checkpoint.extra is a pathlib"),
    ({"rng": [np.zeros(2)]}, r"checkpoint.extra.rng\[0\] is a numpy.ndarray"),
    (np.random.default_rng(0).bit_generator.state, None),   # RNG states as plain data: kept
    (random.Random(0).getstate(), None),
])
def test_save_writes_plain_data_only(value, refused, tmp_path):
    path = tmp_path / "c.pt"
    state = {"format": FORMAT, "model_config": {}, "model": {}, "extra": value}
    if refused is None:
        save_checkpoint(path, state)
        assert load_checkpoint(path)["extra"] == value
        return
    with pytest.raises(ValueError, match=refused):
        save_checkpoint(path, state)
    assert not os.listdir(tmp_path)
