"""Issue 25, destructive and misleading operations, through the real CLI.

Every ``--overwrite`` (and bench build, which rewrites its output in place) replaces only an
earlier output of the same kind, lying apart from its inputs and holding nothing else; refused
cases leave every file where it was. ``textsynth verify`` compares a dir against the job's plan
(a SIGKILLed job is incomplete, not OK), names leftover temporary files and malformed
completion markers without a traceback; a resume removes the temporary files and redoes the
shards whose markers are malformed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from textsynth.evaluation.review import bench_id

BIN = Path(sys.executable).parent
SMALL = ["--num-samples", "24", "--samples-per-shard", "6", "--seed", "3", "--num-cpus", "1"]
OTHER_SEED = [*SMALL[:5], "4", *SMALL[6:]]


def _run(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "textsynth"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, by relative path, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _verify(out: Path) -> subprocess.CompletedProcess:
    proc = _run("verify", out)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def synth_out(assets, tmp_path_factory):
    """A finished small synth job: 4 shards of 6 samples."""
    out = tmp_path_factory.mktemp("synth") / "out"
    proc = _run("synth", "--out", out, *SMALL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


# ---------------------------------------------------------------- --overwrite and friends

@pytest.fixture(scope="module")
def bench(assets, tmp_path_factory):
    """A reviewed bench (as the gallery review tests make one), its decisions file, and an
    earlier prune output of it."""
    from textsynth.config import load_config
    from textsynth.shards import ShardSpec, filesystem, write_shard
    from textsynth.synthesis.resources import Resources

    root = tmp_path_factory.mktemp("prune")
    src = root / "work" / "bench"
    fs, path = filesystem(str(src))
    write_shard(Resources(load_config(None, seed=7)), ShardSpec("bench", 0, 7, 6, 0), fs, path)
    (src / "stats.json").write_text(json.dumps({"samples": 6, "bench_id": bench_id(src)}))
    decisions = root / "decisions.json"
    decisions.write_text(json.dumps({"format": "textsynth-review/1", "bench_id": bench_id(src),
                                     "decisions": {"bench-000000-000001": "blurred"}}))
    pruned = root / "pruned"
    proc = _run("bench", "prune", "--bench", src, "--decisions", decisions, "--out", pruned)
    assert proc.returncode == 0, proc.stderr
    return root, src, decisions, pruned


def _prepare(out: Path, how: str | None, synth_out: Path, pruned: Path | None = None) -> None:
    """Put something at ``out``: someone's folder, an output of some kind, or one plus a file."""
    from textsynth import paths

    if how in ("notes+photo", "readme", "curate"):
        out.mkdir(parents=True)
    if how == "notes+photo":
        (out / "notes.txt").write_text("my notes\n")
        shutil.copy(next((paths.home() / "backgrounds").rglob("coffee.png")), out / "photo.png")
    elif how == "readme":
        (out / "README.md").write_text("# my project\n")
    elif how == "curate":   # what a curate output says about itself: a config naming its inputs
        (out / "config.yaml").write_text("job: {name: doc, inputs: [docs]}\nseed: 0\n")
        (out / "shards").mkdir()
        (out / "shards" / "doc-000000.tar").write_bytes(b"\0" * 1024)
    elif how in ("synth", "synth+notes"):
        shutil.copytree(synth_out, out)
    elif how in ("pruned", "pruned+notes"):
        shutil.copytree(pruned, out)
    if how and how.endswith("+notes"):
        (out / "notes.txt").write_text("mine")


PRUNE_CASES = {
    # name: (--out, relative to the fixture's root; what is put there; expected error or None)
    "the source bench": ("work/bench", None, "is the bench itself"),
    "a dir holding the source bench": ("work", None, "contains the input"),
    "a dir inside the source bench": ("work/bench/shards", None, "lies inside the input"),
    "unrelated files": ("mine", "notes+photo", "not a textsynth bench output"),
    "an earlier prune output plus notes": ("pruned+notes", "pruned+notes",
                                           "holds files a bench output does not (notes.txt)"),
    "a synth output": ("synth", "synth", "it holds a textsynth synth output"),
    "an earlier prune output": ("pruned-again", "pruned", None),
}


@pytest.mark.parametrize("case", PRUNE_CASES)
def test_prune_overwrite_replaces_only_an_earlier_bench(bench, synth_out, case):
    root, src, decisions, pruned = bench
    where, how, message = PRUNE_CASES[case]
    out = root / where
    _prepare(out, how, synth_out, pruned)
    before = _files(root)
    proc = _run("bench", "prune", "--bench", src, "--decisions", decisions, "--out", out, "--overwrite")
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    if message is None:
        assert proc.returncode == 0, proc.stderr
        assert json.loads((out / "stats.json").read_text())["review"]["samples_after"] == 5
        assert sorted(_files(out)) == sorted(_files(pruned))
        assert _verify(out).returncode == 0
        return
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert _files(root) == before     # nothing deleted, nothing written
    assert not list(out.parent.glob(f".{out.name}.partial"))


def _page(d: Path) -> Path:
    """One real document page image as a curate input."""
    from docpages import EN_PDF, densest_tiles, doc, page, save

    d.mkdir(parents=True, exist_ok=True)
    save(d / "page.png", densest_tiles(page(doc(EN_PDF), 4), 1)[0])
    return d / "page.png"


JOB_CASES = {
    # name: (the command before --out; what is put at --out; expected error)
    "synth --overwrite onto unrelated files": (["synth", *SMALL, "--overwrite"], "notes+photo",
                                              "not a textsynth synth output"),
    "synth onto a dir with someone's README": (["synth", *SMALL], "readme",
                                               "not a textsynth synth output and not empty (README.md)"),
    "synth --overwrite onto a dir with someone's README": (["synth", *SMALL, "--overwrite"], "readme",
                                                           "not a textsynth synth output"),
    "synth --overwrite onto a curate output": (["synth", *SMALL, "--overwrite"], "curate",
                                               "it holds a textsynth curate output"),
    "synth --overwrite onto a synth output plus notes": (["synth", *OTHER_SEED, "--overwrite"], "synth+notes",
                                                         "holds files a synth output does not (notes.txt)"),
    "curate --overwrite onto unrelated files": (["curate", "--input", "PAGE", "--overwrite"], "notes+photo",
                                               "not a textsynth curate output"),
    "curate into its input folder": (["curate", "--input", "INPUTS"], "inside the inputs",
                                     "lies inside the input"),
    "bench build onto unrelated files": (["bench", "build", "--input", "PAGE"], "notes+photo",
                                         "not a textsynth bench output"),
}


@pytest.mark.parametrize("case", JOB_CASES)
def test_jobs_refuse_to_replace_what_is_not_theirs(assets, synth_out, tmp_path, case):
    command, how, message = JOB_CASES[case]
    page = _page(tmp_path / "inputs")
    out = tmp_path / "inputs" / "out" if how == "inside the inputs" else tmp_path / "out"
    _prepare(out, how, synth_out)
    command = [{"PAGE": page, "INPUTS": page.parent}.get(a, a) for a in command]
    before = _files(tmp_path)
    proc = _run(*command, "--out", out)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
    assert _files(tmp_path) == before


# ---------------------------------------------------------------- verify tells the truth

def test_a_killed_job_is_incomplete_and_its_leftovers_are_cleaned_on_resume(assets, tmp_path):
    out = tmp_path / "out"
    job = ["--num-samples", "600", "--samples-per-shard", "15", "--num-cpus", "1"]   # 40 shards
    proc = subprocess.Popen([str(BIN / "textsynth"), "synth", "--out", str(out), *job],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while len(list(out.glob("_completions/*.json"))) < 2:
        assert proc.poll() is None and time.time() < deadline, "the job ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)   # the driver and its embedded Ray, mid-job
    proc.wait()
    for _ in range(300):                  # until every process of the group is gone
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    done = len(list(out.glob("_completions/*.json")))
    assert 2 <= done < 40
    assert not (out / "stats.json").exists()

    # What interrupted atomic writes leave behind, in every folder the job writes.
    leftovers = ["shards/synth-000039.tar.tmp-0123abcd", "index/synth-000039.parquet.tmp-4567ef01",
                 "_completions/synth-000039.json.tmp-89abcdef", "stats.json.tmp-00ff00ff"]
    for rel in leftovers:
        (out / rel).write_bytes(b"partial")
    proc = _verify(out)
    assert proc.returncode == 1, proc.stdout
    assert f"incomplete: {40 - done} of 40 shards missing" in proc.stdout
    assert "stats.json: missing (the job did not finish)" in proc.stdout
    for rel in leftovers:
        assert f"{rel}: leftover temporary file" in proc.stdout

    resumed = _run("synth", "--out", out, *job)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "temporary file(s) an interrupted run left" in resumed.stderr
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    ok = _verify(out)
    assert ok.returncode == 0 and ok.stdout.strip().endswith("OK"), ok.stdout


def _marker(synth_out: Path, name: str = "synth-000001") -> dict:
    return json.loads((synth_out / "_completions" / f"{name}.json").read_text())


MALFORMED = {
    "empty file": lambda m: b"",
    "invalid JSON": lambda m: b"{not json",
    "truncated": lambda m: json.dumps(m).encode()[:40],
    "not UTF-8": lambda m: b"\xff\xfe\x00garbage",
    "a list": lambda m: b"[1, 2, 3]",
    "null": lambda m: b"null",
    "missing tar_sha256": lambda m: json.dumps({k: v for k, v in m.items() if k != "tar_sha256"}).encode(),
    "samples a string": lambda m: json.dumps({**m, "samples": "6"}).encode(),
    "sha256 a number": lambda m: json.dumps({**m, "parquet_sha256": 12345}).encode(),
    "negative samples": lambda m: json.dumps({**m, "samples": -1}).encode(),
}


@pytest.mark.parametrize("kind", MALFORMED)
def test_verify_names_a_malformed_marker(synth_out, tmp_path, kind):
    out = tmp_path / "copy"
    shutil.copytree(synth_out, out)
    (out / "_completions" / "synth-000001.json").write_bytes(MALFORMED[kind](_marker(synth_out)))
    proc = _verify(out)
    assert proc.returncode == 1, proc.stdout
    assert "_completions/synth-000001.json: malformed completion marker" in proc.stdout, proc.stdout
    assert "synth-000002" not in proc.stdout   # the other shards are fine


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("config", [BOMB, "#" * (2 << 20), "just a string", "job: [1, 2]"],
                         ids=["alias bomb", "over the size cap", "not a mapping", "job not a mapping"])
def test_verify_and_overwrite_survive_a_hostile_config_yaml(synth_out, tmp_path, config):
    """An output's config.yaml is read like any config: capped and without YAML aliases (an
    alias bomb would expand to 9^9 strings), so neither verify nor --overwrite chokes on it."""
    out = tmp_path / "copy"
    shutil.copytree(synth_out, out)
    (out / "config.yaml").write_text(config)
    proc = _verify(out)
    assert proc.returncode == 1 and "config.yaml" in proc.stdout, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    before = _files(out)
    proc = _run("synth", "--out", out, *SMALL, "--overwrite")
    assert proc.returncode == 2 and "not a textsynth synth output" in proc.stderr, proc.stderr
    assert _files(out) == before


def test_resume_redoes_shards_with_malformed_markers(synth_out, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(synth_out, out)
    reference = {k: v for k, v in _files(out).items() if k.startswith(("shards/", "index/"))}
    for name, kind in zip(("synth-000000", "synth-000001", "synth-000003"), ("a list", "invalid JSON", "samples a string")):
        (out / "_completions" / f"{name}.json").write_bytes(MALFORMED[kind](_marker(synth_out, name)))
    proc = _run("synth", "--out", out, *SMALL)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "(1 shards were already done)" in proc.stdout
    assert {k: v for k, v in _files(out).items() if k.startswith(("shards/", "index/"))} == reference
    assert _verify(out).returncode == 0


@pytest.fixture(scope="module")
def curated_two(assets, tmp_path_factory):
    """A curate job over two page images, one partition each."""
    from docpages import EN_PDF, densest_tiles, doc, page, save

    root = tmp_path_factory.mktemp("curate2")
    (root / "in").mkdir()
    for i, tile in enumerate(densest_tiles(page(doc(EN_PDF), 4), 2)):
        save(root / "in" / f"page{i}.png", tile)
    cfg = root / "curate.yaml"
    cfg.write_text("ingest: {files_per_partition: 1}\ncrop: {sizes: [256]}\n")
    args = ["curate", "--config", cfg, "--input", root / "in", "--num-cpus", "1"]
    out = root / "out"
    proc = _run(*args, "--out", out, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "_plan.json").read_text())["shards"] == ["doc-000000", "doc-000001"]
    return out, args


def test_curate_verify_and_resume_follow_the_plan(curated_two, tmp_path):
    src, args = curated_two
    assert _verify(src).returncode == 0
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    for rel in ("_completions/doc-000001.json", "shards/doc-000001.tar", "index/doc-000001.parquet"):
        (out / rel).unlink()
    proc = _verify(out)
    assert proc.returncode == 1 and "incomplete: 1 of 2 shards missing" in proc.stdout, proc.stdout
    # A malformed partition marker: the resume redoes that partition instead of crashing.
    (out / "_work" / "_completions" / "part-000000.json").write_text('["not", "a", "record"]')
    (out / "_work" / "part-000001.tar.tmp-0123abcd").write_bytes(b"partial")
    proc = _run(*args, "--out", out, timeout=900)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "(1 already done)" in proc.stdout, proc.stdout
    assert not (out / "_work" / "part-000001.tar.tmp-0123abcd").exists()
    assert _verify(out).returncode == 0
