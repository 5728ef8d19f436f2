"""`textsynth eval`: reconstruct every bench image and measure what text survives.

Per image: PP-OCRv5 on the original and on the reconstruction, NED between the two raw
strings (report eq. 5: the original's OCR is the reference, so OCR's own errors cancel),
PSNR, SSIM, and LPIPS when its weights are available. Synthetic benches (``source: synth``)
also compare both OCR outputs with the exact ground-truth text. Results: ``metrics.json``
and ``metrics.md`` (overall, per lang, per size bucket) and ``per_image.parquet``.

OCR of the originals is cached per bench (keyed by sample key and image hash), so
evaluating more models on the same bench costs one OCR pass per image, not two.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from textsynth import paths
from textsynth.metrics import ned, psnr, ssim

PSNR_CAP = 100.0  # dB; identical images would be +inf, which neither means nor JSON handle


def read_bench(bench: str | Path):
    """(key, RGB image, metadata, image sha256) for every sample of a bench's shards."""
    shards = sorted(Path(bench, "shards").glob("*.tar"))
    if not shards:
        raise FileNotFoundError(f"no shards in {bench}/shards (build one with `textsynth bench build` "
                                "or point --bench at a synth/curate output)")
    for shard in shards:
        with tarfile.open(shard) as tar:
            members = {m.name: m for m in tar.getmembers()}
            for name in sorted(n for n in members if n.endswith(".json")):
                key = name[:-5]
                image_name = next(n for n in members if n.startswith(key + ".") and n != name)
                data = tar.extractfile(members[image_name]).read()
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if img is None:
                    raise ValueError(f"{shard}: cannot decode {image_name}")
                meta = json.loads(tar.extractfile(members[name]).read())
                yield key, cv2.cvtColor(img, cv2.COLOR_BGR2RGB), meta, hashlib.sha256(data).hexdigest()


class OCRCache:
    """OCR text of original images, on disk as JSON: {"key:sha256": text}."""

    def __init__(self, bench: str | Path, cache_dir: str | Path | None = None):
        cache_dir = Path(cache_dir) if cache_dir else paths.home() / "eval-cache"
        digest = hashlib.sha256(str(Path(bench).resolve()).encode()).hexdigest()[:16]
        self.path = cache_dir / f"ocr-{digest}.json"
        self.data = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.hits = 0

    def get(self, key: str, sha: str, compute) -> str:
        k = f"{key}:{sha}"
        if k in self.data:
            self.hits += 1
        else:
            self.data[k] = compute()
        return self.data[k]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.data, ensure_ascii=False))
        tmp.replace(self.path)


def _gt_text(meta: dict) -> str:
    return "".join(meta.get("text", "").split())


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return round(float(np.mean(xs)), 4) if xs else None


def aggregate(rows: list[dict]) -> dict:
    """Mean metrics overall, per lang and per size bucket."""
    metrics = ["ned", "psnr", "ssim", "lpips", "gt_ned_orig", "gt_ned_recon"]

    def summarise(rs):
        out = {"n": len(rs)}
        for m in metrics:
            v = _mean([r[m] for r in rs])
            if v is not None:
                out[m] = v
        return out

    result = {"overall": summarise(rows)}
    for field in ("lang", "size_bucket"):
        groups = defaultdict(list)
        for r in rows:
            groups[str(r[field])].append(r)
        result[f"by_{field}"] = {g: summarise(rs) for g, rs in sorted(groups.items())}
    return result


def markdown(model: str, bench: str, agg: dict) -> str:
    cols = [("n", "n"), ("ned", "NED"), ("psnr", "PSNR"), ("ssim", "SSIM"), ("lpips", "LPIPS"),
            ("gt_ned_orig", "OCR vs GT (orig)"), ("gt_ned_recon", "OCR vs GT (recon)")]
    cols = [(k, h) for k, h in cols if k == "n" or k in agg["overall"]]
    lines = [f"**{model}** on `{bench}`", "", "| group | " + " | ".join(h for _, h in cols) + " |",
             "|---" * (len(cols) + 1) + "|"]
    groups = [("all", agg["overall"])] + [(f"lang {g}", v) for g, v in agg["by_lang"].items()] + \
             [(f"size {g}", v) for g, v in agg["by_size_bucket"].items()]
    for name, v in groups:
        lines.append(f"| {name} | " + " | ".join(str(v.get(k, "–")) for k, _ in cols) + " |")
    return "\n".join(lines) + "\n"


def evaluate(bench: str, model: str, out: str, cache_dir: str | None = None, limit: int | None = None,
             lpips=None, ocr=None, progress: bool = True, read_text: bool = True) -> dict:
    """Evaluate ``model`` (a spec, see references.load) on ``bench``; write results to ``out``.

    ``read_text=False`` skips OCR (NED is then absent): for benches without text, such as
    general photos, where only PSNR/SSIM mean something."""
    from tqdm import tqdm

    from textsynth.evaluation.references import load

    reconstruct = load(model)
    if ocr is None and read_text:
        from textsynth.ocr import OCR

        ocr = OCR()
    cache = OCRCache(bench, cache_dir)
    rows = []
    t0 = time.perf_counter()
    samples = read_bench(bench)
    for i, (key, img, meta, sha) in enumerate(tqdm(samples, desc=f"eval {model}", unit="img",
                                                   disable=not progress)):
        if limit is not None and i >= limit:
            break
        recon = reconstruct(img, key)
        if recon.shape != img.shape or recon.dtype != np.uint8:
            raise ValueError(f"model {model} returned {recon.shape} {recon.dtype} for {img.shape} uint8 ({key})")
        s_orig = cache.get(key, sha, lambda: ocr.read_text(img)) if read_text else None
        s_recon = ocr.read_text(recon) if read_text else None
        row = {"key": key, "lang": meta.get("lang"), "size_bucket": meta.get("size_bucket"),
               "source": meta.get("source"), "ocr_orig": s_orig, "ocr_recon": s_recon,
               "ned": ned(s_recon, s_orig) if read_text else None,
               "psnr": min(PSNR_CAP, psnr(img, recon)),
               "ssim": ssim(img, recon), "lpips": lpips(img, recon) if lpips else None,
               "gt_ned_orig": None, "gt_ned_recon": None}
        if read_text and meta.get("source") == "synth":  # exact ground truth known; compare without whitespace
            gt = _gt_text(meta)
            row["gt_ned_orig"] = ned("".join(s_orig.split()), gt)
            row["gt_ned_recon"] = ned("".join(s_recon.split()), gt)
        rows.append(row)
        if len(rows) % 50 == 0:
            cache.save()
    cache.save()
    if not rows:
        raise ValueError(f"bench {bench} has no samples")
    agg = aggregate(rows)
    result = {"model": model, "bench": str(bench), "seconds": round(time.perf_counter() - t0, 2),
              "ocr_cache_hits": cache.hits, "lpips": "computed" if lpips else "not available", **agg}
    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("key", pa.string()), ("lang", pa.string()), ("size_bucket", pa.string()),
                        ("source", pa.string()), ("ocr_orig", pa.string()), ("ocr_recon", pa.string()),
                        ("ned", pa.float64()), ("psnr", pa.float64()), ("ssim", pa.float64()),
                        ("lpips", pa.float64()), ("gt_ned_orig", pa.float64()), ("gt_ned_recon", pa.float64())])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), outp / "per_image.parquet")
    (outp / "metrics.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    (outp / "metrics.md").write_text(markdown(model, bench, agg))
    return result
