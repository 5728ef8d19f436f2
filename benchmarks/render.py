"""Renderer throughput on one core vs. encode-only and SynthTIGER, measured in one run.

Standard spec: 256x256, 2-8 lines, English and Chinese, 5-20 px, photo backgrounds (the
default config). Prints a Markdown table and a JSON line; figures go to BENCHMARKS.md.

    python benchmarks/render.py [--num 1000] [--no-synthtiger] [--memory-home FULL_HOME]

Everything runs pinned to one CPU with one thread per library. Rendering is measured in
steady state (after a warm-up that fills the glyph and shaping caches, as in a long job).
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402

from textsynth import paths  # noqa: E402
from textsynth.config import load_config  # noqa: E402
from textsynth.synthesis.generate import Stats, make_sample  # noqa: E402
from textsynth.synthesis.render import encode  # noqa: E402
from textsynth.synthesis.resources import Resources  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "benchmarks" / "synthtiger_baseline"


def _pin() -> None:
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def _rate(n: int, seconds: float) -> float:
    return n / seconds


def measure_textsynth(num: int, warmup: int) -> dict:
    res = Resources(load_config(None))
    stats = Stats()
    for i in range(warmup):
        make_sample(res, 0, 10_000_000 + i, stats)
    out = {}
    images = []
    t = time.perf_counter()
    for i in range(num):
        images.append(make_sample(res, 0, i, stats)[0])
    out["render_only"] = _rate(num, time.perf_counter() - t)
    for fmt, kw in (("png", {"png_level": 1}), ("jpg", {"jpeg_quality": 95})):
        t = time.perf_counter()
        for i in range(num):
            encode(make_sample(res, 0, i, stats)[0], fmt, **kw)
        out[f"total_{fmt}"] = _rate(num, time.perf_counter() - t)
        t = time.perf_counter()
        for img in images:
            encode(img, fmt, **kw)
        out[f"encode_only_{fmt}"] = _rate(num, time.perf_counter() - t)
    out["skips"] = dict(stats.skips)
    return out


def _flat_links(files, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(files):
        (dest / f"{i:04d}-{f.name}").symlink_to(f)
    return dest


def measure_synthtiger(num: int, work: Path, cache: bool) -> dict:
    """Run the SynthTIGER template (its own venv) on the same fonts, corpora and photos."""
    venv = REPO / ".bench-venv-synthtiger"
    subprocess.run(["bash", str(BASELINE / "setup.sh"), str(venv)], check=True,
                   stdout=subprocess.DEVNULL)
    res = Resources(load_config(None))
    en_faces = sorted({f.path for f in res.fonts.faces if not f.has_han})
    zh_faces = sorted({f.path for f in res.fonts.faces if f.has_han})
    fonts_en = _flat_links(en_faces, work / "fonts-en")
    fonts_zh = _flat_links(zh_faces, work / "fonts-zh")
    bgs = _flat_links([res.backgrounds.files[n] for n in res.backgrounds.names], work / "bg")
    corpora = {}
    for lang, corpus in res.corpora.items():
        corpora[lang] = work / f"corpus-{lang}.txt"
        corpora[lang].write_text("\n".join(corpus.lines), encoding="utf-8")
    results = {}
    for fmt in ("png", "jpg"):
        cmd = [str(venv / "bin" / "python"), str(BASELINE / "run.py"),
               "--fonts-en", str(fonts_en), "--fonts-zh", str(fonts_zh), "--backgrounds", str(bgs),
               "--corpus-en", str(corpora["en"]), "--corpus-zh", str(corpora["zh"]),
               "--num", str(num), "--format", fmt, "--seed", "0"] + (["--cache"] if cache else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[fmt] = json.loads(proc.stdout.strip().splitlines()[-1])["samples_per_s"]
    return results


def measure_memory(home: str | None, num: int) -> dict:
    """Memory of a fresh worker process rendering ``num`` samples with the assets in
    ``home`` (e.g. a full-profile $TEXTSYNTH_HOME; default: the current one)."""
    code = f"""
import resource, sys
from textsynth.config import load_config
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.render import encode
from textsynth.synthesis.resources import Resources
r = Resources(load_config(None))
s = Stats()
for i in range({num}):
    encode(make_sample(r, 0, i, s)[0])
anon = [l.split()[1] for l in open("/proc/self/status") if l.startswith("RssAnon")][0]
print(len(r.fonts), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, anon)
"""
    env = {**os.environ, **({"TEXTSYNTH_HOME": home} if home else {})}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    # RSS includes the memory-mapped font files (page cache, shared by all workers on a
    # host and reclaimable); RssAnon is the worker's own memory.
    return {"faces": int(out[0]), "peak_rss_mb": round(int(out[1]) / 1024, 1),
            "anon_rss_mb": round(int(out[2]) / 1024, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num", type=int, default=1000, help="samples per measurement")
    p.add_argument("--warmup", type=int, default=1500)
    p.add_argument("--synthtiger-num", type=int, default=300)
    p.add_argument("--no-synthtiger", action="store_true")
    p.add_argument("--memory-home", help="asset cache for the memory check, e.g. one made by "
                                         "`assets fetch --profile full`; default: $TEXTSYNTH_HOME")
    p.add_argument("--memory-num", type=int, default=2000)
    args = p.parse_args()
    _pin()
    r = {"assets": str(paths.home())}
    r["textsynth"] = measure_textsynth(args.num, args.warmup)
    if not args.no_synthtiger:
        with tempfile.TemporaryDirectory() as tmp:
            r["synthtiger"] = measure_synthtiger(args.synthtiger_num, Path(tmp) / "a", cache=False)
            r["synthtiger_cached"] = measure_synthtiger(args.synthtiger_num, Path(tmp) / "b", cache=True)
    r["memory"] = measure_memory(args.memory_home, args.memory_num)

    ts = r["textsynth"]
    print("| measurement | samples/s (1 core) |\n|---|---|")
    for k in ("render_only", "total_png", "total_jpg", "encode_only_png", "encode_only_jpg"):
        print(f"| textsynth {k} | {ts[k]:.1f} |")
    if "synthtiger" in r:
        for k in ("png", "jpg"):
            print(f"| SynthTIGER {k} (stock / cached inputs) | {r['synthtiger'][k]:.1f} / "
                  f"{r['synthtiger_cached'][k]:.1f} |")
    print("\n| target | value | met |\n|---|---|---|")
    ratio_png = ts["encode_only_png"] / ts["total_png"]
    print(f"| PNG total time / encode-only time <= 2 | {ratio_png:.2f} | {ratio_png <= 2} |")
    if "synthtiger" in r:
        for k in ("png", "jpg"):
            x = ts[f"total_{k}"] / r["synthtiger_cached"][k]
            x_stock = ts[f"total_{k}"] / r["synthtiger"][k]
            # The target is against SynthTIGER as shipped; the cached-input variant is a
            # stronger baseline we built to show how much of the gap is SynthTIGER's file I/O.
            print(f"| speed-up vs SynthTIGER {k} >= 10 (stock; cached-input variant) | "
                  f"{x_stock:.1f}; {x:.1f} | {x_stock >= 10} |")
    m = r["memory"]
    print(f"| worker memory <= 400 MB ({m['faces']} faces): own (RssAnon) / incl. mapped fonts "
          f"(peak RSS) | {m['anon_rss_mb']} / {m['peak_rss_mb']} MB | {m['anon_rss_mb'] <= 400} |")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
