"""Train/bench splits with no overlap, and the check that proves it.

- **Photos** and **documents** are split by file: a file is held out when a salted hash of
  its name falls under ``bench_fraction`` (documents can also be named explicitly). The
  synthetic bench draws its backgrounds, and the general-photo bench its crops, from held-out
  photos only; the doc bench is built from held-out documents only.
- **Corpus lines** are split by a salted hash of the cleaned line, so a line (and every
  duplicate of it) is on one side only. The synth jobs read the split corpus files.
- With the closed loop (``--rounds``) photos and lines also get a **tune** side: the next
  ``tune_fraction`` of the hash range after the bench's, taken from training. The loop's
  suggestions read a synthetic bench on it, so the final bench never steers what it measures.
- The shared **base** model (textsynth/experiment/base.py) trains on the training photos
  outside the tune range whether or not the loop is on (``photos/base``), so experiments with
  and without the loop fork from one cached base.

:func:`check_no_overlap` reads what the outputs themselves record (the synth jobs'
``config.yaml``, the shard indexes' origins, file contents by hash) and raises
:class:`OverlapError` naming the file or line that a bench shares with training.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from textsynth.synthesis.backgrounds import IMAGE_SUFFIXES
from textsynth.synthesis.text import clean

DOC_SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".html", ".htm"}


class OverlapError(ValueError):
    """A bench shares a document, a photo or a text line with the training data."""


def side_of(name: str, salt: str, bench: float, tune: float = 0.0) -> str:
    """``bench`` when the salted hash of ``name`` (uniform in [0, 1)) falls under ``bench``,
    ``tune`` in the next ``tune`` of the range, else ``train``: the bench side does not
    depend on ``tune``, so turning the loop on only takes the tune side from training."""
    u = int.from_bytes(hashlib.sha256(f"{salt}\0{name}".encode()).digest()[:8], "big") / 2 ** 64
    return "bench" if u < bench else "tune" if u < bench + tune else "train"


def file_sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def list_files(roots: list[Path], suffixes: set[str]) -> list[Path]:
    out = []
    for r in roots:
        if r.is_file():
            out.append(r)
        elif r.is_dir():
            out += sorted(p for p in r.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        else:
            raise FileNotFoundError(f"experiment input not found: {r}")
    return out


def split_files(files: list[Path], salt: str, fraction: float, kind: str,
                named: list[str] | None = None, tune: float = 0.0) -> dict[str, list[Path]]:
    """``{"train": [...], "bench": [...]}`` (and ``"tune"`` when ``tune`` > 0) by file name;
    every side must be non-empty. Identical contents under two names count as one file (kept
    on one side)."""
    by_sha: dict[str, Path] = {}
    for f in files:
        by_sha.setdefault(file_sha(f), f)
    out: dict[str, list[Path]] = {"train": [], "bench": [], **({"tune": []} if tune else {})}
    for f in sorted(by_sha.values(), key=lambda p: p.name):
        side = side_of(f.name, salt, fraction, tune)
        if named:
            side = "bench" if f.name in named else "train"
        out[side].append(f)
    if named:
        missing = set(named) - {f.name for f in out["bench"]}
        if missing:
            raise FileNotFoundError(f"split.bench_documents names files not among the inputs: {sorted(missing)}")
    for side, got in out.items():
        if not got:
            raise ValueError(f"the {kind} split left no {side} files ({len(by_sha)} {kind} in all): "
                             f"add inputs or change split.bench_fraction / split.tune_fraction / split.salt")
    return out


def copy_split(split: dict[str, list[Path]], dest: Path) -> dict[str, Path]:
    """Copy each side into ``dest/SIDE`` (names kept, made unique)."""
    dirs = {}
    for side, files in split.items():
        d = dest / side
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        for f in files:
            target = d / f.name
            n = 1
            while target.exists():
                target = d / f"{f.stem}-{n}{f.suffix}"
                n += 1
            shutil.copyfile(f, target)
        dirs[side] = d
    return dirs


def split_corpus(files: list[Path], lang: str, salt: str, fraction: float,
                 dest: Path, tune: float = 0.0) -> dict[str, Path]:
    """Cleaned lines of ``files`` into ``dest/SIDE/{lang}-split.txt`` by line hash."""
    sides: dict[str, list[str]] = {"train": [], "bench": [], **({"tune": []} if tune else {})}
    for f in files:
        for raw in Path(f).read_text(encoding="utf-8").splitlines():
            line = clean(raw)
            if line:
                sides[side_of(line, salt, fraction, tune)].append(line)
    out = {}
    for side, lines in sides.items():
        if not lines:
            raise ValueError(f"corpus split for '{lang}' left no {side} lines ({files})")
        p = dest / side / f"{lang}-split.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out[side] = p
    return out


def make_splits(cfg: dict, dest: Path) -> dict:
    """Write every split under ``dest``; returns a manifest (also ``dest/splits.json``) whose
    paths are relative to ``dest``, so the experiment dir can move (e.g. to a GPU machine)."""
    from textsynth.synthesis.resources import corpus_files
    from textsynth.vae.data import resolve

    s = cfg["split"]
    frac, salt = s["bench_fraction"], s["salt"]
    tune = s["tune_fraction"] if cfg["rounds"]["count"] else 0.0   # only the loop reads it
    photos = split_files(list_files([resolve(p) for p in cfg["inputs"]["photos"]], IMAGE_SUFFIXES),
                         salt, frac, "photos", tune=tune)
    docs = split_files(list_files([resolve(p) for p in cfg["inputs"]["documents"]], DOC_SUFFIXES),
                       salt, frac, "documents", s["bench_documents"] or None)
    # the base's photos: training photos outside the tune range, with the loop or without
    photos["base"] = [f for f in photos["train"] if side_of(f.name, salt, frac, s["tune_fraction"]) == "train"]
    if not photos["base"]:
        raise ValueError(f"the photos split left no photos for the base ({len(photos['train'])} training "
                         "photos, all in the tune range): add photos or change split.tune_fraction")
    rel = lambda p: Path(p).relative_to(dest).as_posix()  # noqa: E731
    manifest = {"photos": {k: rel(v) for k, v in copy_split(photos, dest / "photos").items()},
                "documents": {k: rel(v) for k, v in copy_split(docs, dest / "documents").items()},
                "corpora": {}}
    corp_cfg = {"text": {"corpora": cfg["inputs"]["corpora"]}}
    for lang in ("en", "zh"):
        files = corpus_files(corp_cfg, lang)
        if not files:
            raise FileNotFoundError(f"no corpus files for '{lang}': run `textsynth assets fetch` "
                                    f"or set inputs.corpora.{lang}")
        manifest["corpora"][lang] = {k: rel(v) for k, v in
                                     split_corpus(files, lang, salt, frac, dest / "corpora", tune).items()}
    manifest["counts"] = {
        "photos": {k: len(v) for k, v in photos.items()},
        "documents": {k: [f.name for f in v] for k, v in docs.items()},
        "corpus_lines": {lang: {side: sum(1 for _ in open(dest / p, encoding="utf-8"))
                                for side, p in sides.items()}
                         for lang, sides in manifest["corpora"].items()},
    }
    (dest / "splits.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return manifest


# ------------------------------------------------------------------------ the overlap check

def _index_rows(out: Path) -> list[dict]:
    rows = []
    for p in sorted((Path(out) / "index").glob("*.parquet")):
        rows += pq.read_table(p, columns=None).to_pylist()
    return rows


def _json_field(row: dict, name: str) -> dict:
    v = row.get(name)
    if isinstance(v, str):
        try:
            return json.loads(v) or {}
        except ValueError:
            return {}
    return v or {}


def _synth_inputs(out: Path) -> tuple[dict[str, Path], set[Path]]:
    """(background name -> file, corpus files) a synth job used, from its config.yaml."""
    from textsynth import paths

    cfg = yaml.safe_load((Path(out) / "config.yaml").read_text())
    dirs = [Path(d) for d in (cfg["background"]["dirs"] or [paths.backgrounds_dir()])]
    names: dict[str, Path] = {}
    for d in dirs:
        for p in sorted(d.rglob("*")):
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                names.setdefault(p.relative_to(d).as_posix(), p)
    corpora = {Path(f) for files in cfg["text"]["corpora"].values() for f in files}
    if not corpora:
        corpora = set(paths.corpora_dir().glob("*.txt"))
    return names, corpora


def _lines_of(files: set[Path]) -> dict[str, Path]:
    out = {}
    for f in sorted(files):
        for raw in f.read_text(encoding="utf-8").splitlines():
            line = clean(raw)
            if line:
                out.setdefault(line, f)
    return out


def check_no_overlap(train: dict, benches: dict, against: str = "training") -> dict:
    """Raise OverlapError when a bench shares a file or a line with training.

    ``train``: ``{"photos": dir, "synth": out, "curate": out, "documents": dir}``;
    ``benches``: ``{"doc": out, "synth": out, "general": out}`` (any may be missing);
    ``against`` names the ``train`` side in the messages (e.g. the final bench, when the
    loop's tune bench is checked against it). Returns counts of what was compared."""
    counts = {}
    train_photos = {file_sha(p): p for p in list_files([Path(train["photos"])], IMAGE_SUFFIXES)}
    if train.get("synth"):
        names, corpora = _synth_inputs(Path(train["synth"]))
        for p in names.values():
            train_photos.setdefault(file_sha(p), p)
        train_lines = _lines_of(corpora)
    else:
        train_lines = {}
    train_docs = {}
    if train.get("documents"):
        train_docs = {file_sha(p): p for p in list_files([Path(train["documents"])], DOC_SUFFIXES)}
    if train.get("curate"):
        for row in _index_rows(Path(train["curate"])):
            f = _json_field(row, "origin").get("file") or row.get("origin_file")
            if f and Path(f).is_file():
                train_docs.setdefault(file_sha(Path(f)), Path(f))

    if benches.get("synth"):
        names, corpora = _synth_inputs(Path(benches["synth"]))
        used = {(_json_field(r, "origin").get("background")) for r in _index_rows(Path(benches["synth"]))}
        for name in sorted(n for n in used if n):
            p = names.get(name)
            if p is not None and file_sha(p) in train_photos:
                raise OverlapError(f"synthetic bench {benches['synth']}: background {p} is also a "
                                   f"{against} photo ({train_photos[file_sha(p)]})")
        shared = set(_lines_of(corpora)) & set(train_lines)
        if shared:
            line = sorted(shared)[0]
            raise OverlapError(f"synthetic bench {benches['synth']}: {len(shared)} corpus line(s) also "
                               f"in the {against} corpora, e.g. {line[:60]!r} "
                               f"({train_lines[line]})")
        counts["synth_bench_backgrounds"] = len(used)
    if benches.get("general"):
        for row in _index_rows(Path(benches["general"])):
            f = _json_field(row, "origin").get("file")
            if f and Path(f).is_file() and file_sha(Path(f)) in train_photos:
                raise OverlapError(f"general-photo bench {benches['general']}: {f} is also a training "
                                   f"photo ({train_photos[file_sha(Path(f))]})")
    if benches.get("doc"):
        files = set()
        for row in _index_rows(Path(benches["doc"])):
            f = _json_field(row, "origin").get("file")
            if f:
                files.add(f)
        for f in sorted(files):
            if Path(f).is_file() and file_sha(Path(f)) in train_docs:
                raise OverlapError(f"doc bench {benches['doc']}: document {f} is also a training "
                                   f"document ({train_docs[file_sha(Path(f))]})")
        counts["doc_bench_documents"] = len(files)
    counts.update(train_photos=len(train_photos), train_documents=len(train_docs),
                  train_lines=len(train_lines))
    return counts

