"""Worker memory with backgrounds read from webdataset shards (issue 15.4).

Packs the asset cache's background photos into N webdataset shards, then renders shards of
100 samples in a fresh process (as a synth worker does) with those shards as
`background.dirs`, the document config, mixed canvas sizes up to 1024x1024 and fpng, and reports the process's own memory (RssAnon) and peak RSS (which also counts the
memory-mapped font files, shared page cache). Run it with a full-profile asset cache to
measure with the full font set:

    TEXTSYNTH_HOME=<full-profile cache> python benchmarks/memory_shards.py [--num 2000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from textsynth import paths

CODE = """
import json, resource, sys
from textsynth import paths
from textsynth.config import load_config
from textsynth.shards import ShardSpec, render_shard
from textsynth.synthesis.generate import Stats
from textsynth.synthesis.resources import Resources
cfg = load_config(paths.packaged_config("synth_docs.yaml"),
                  background={"dirs": [sys.argv[1]], "cache_mb": float(sys.argv[3])},
                  output={"png_encoder": "fpng"},
                  canvas={"sizes": {"256x256": 0.5, "512x512": 0.3, "384x640": 0.1, "1024x1024": 0.1}})
r, s = Resources(cfg), Stats()
for k in range(int(sys.argv[2]) // 100):   # as a synth worker does: shard after shard
    s.merge(render_shard(r, ShardSpec("m", k, 0, 100, 100 * k))[2])
anon = [l.split()[1] for l in open("/proc/self/status") if l.startswith("RssAnon")][0]
print(json.dumps({"faces": len(r.fonts), "shards": len(r.backgrounds.shards), "samples": s.samples,
                  "skips": dict(s.skips), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "anon_rss_mb": round(int(anon) / 1024, 1)}))
"""


def pack(photos: list[Path], out: Path, shards: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        with tarfile.open(out / f"bg-{s:04d}.tar", "w") as tar:
            for i, p in enumerate(photos[s::shards]):
                tar.add(p, arcname=f"{s:04d}{i:05d}{p.suffix.lower()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=2000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--cache-mb", type=float, default=32, help="background.cache_mb (default 32)")
    args = ap.parse_args()
    photos = sorted(p for p in paths.backgrounds_dir().rglob("*")
                    if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"} and p.is_file())
    with tempfile.TemporaryDirectory() as tmp:
        pack(photos, Path(tmp) / "shards", args.shards)
        out = subprocess.run([sys.executable, "-c", CODE, str(Path(tmp) / "shards"), str(args.num),
                              str(args.cache_mb)],
                             capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["photos"], r["cache_mb"] = len(photos), args.cache_mb
    print(f"{r['faces']} faces, {r['photos']} photos in {r['shards']} shards, {r['samples']} samples, "
          f"photo cache {args.cache_mb} MB: "
          f"own memory (RssAnon) {r['anon_rss_mb']} MB, peak RSS incl. mapped fonts {r['peak_rss_mb']} MB "
          f"(target: own <= 400 MB: {r['anon_rss_mb'] <= 400})")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
