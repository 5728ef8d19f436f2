"""Curation calibration and speed (issue 4); prints Markdown tables for BENCHMARKS.md.

    TEXTSYNTH_HOME=<ci cache> python benchmarks/curation.py [--crops 240] [--ocr-crops 16]

1. Calibration of the clarity filters at the default thresholds: 256x256 crops of real
   pages (the ci profile's PDFs at the default 96 DPI, tiles that pass the blank filter) and
   copies of them blurred (Gaussian sigma 0.5-3) or JPEG-compressed (q 10-90). Reports the
   share of originals kept and of each degraded set rejected. This is the cheap pre-OCR pass
   (scores over stroke regions), the one that decides which crops OCR ever sees.
2. Throughput per core of each stage (PDF page render, blank+hash, clarity, OCR, dedup keys)
   and of the whole cascade on real pages, against the same pages with every non-blank crop
   sent to OCR (no cheap filters first), measured in the same run.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pypdfium2 as pdfium  # noqa: E402

from textsynth import paths  # noqa: E402
from textsynth.curation import clarity, dedup, ingest  # noqa: E402
from textsynth.curation.cascade import Cascade, clarity_failure  # noqa: E402
from textsynth.curation.config import load_curate_config  # noqa: E402


def page_crops(cfg: dict, max_crops: int, rng) -> tuple[list[np.ndarray], float, int]:
    """Non-blank 256 tiles of the ci PDFs; also seconds per rendered page."""
    crops, t, pages = [], 0.0, 0
    for pdf in sorted((paths.documents_dir()).rglob("*.pdf")):
        doc = pdfium.PdfDocument(str(pdf))
        for i in range(2, min(len(doc), 30)):
            t0 = time.perf_counter()
            img = doc[i].render(scale=cfg["ingest"]["pdf_dpi"] / 72).to_numpy()[:, :, :3].copy()
            t += time.perf_counter() - t0
            pages += 1
            for y in range(0, img.shape[0] - 255, 256):
                for x in range(0, img.shape[1] - 255, 256):
                    c = img[y:y + 256, x:x + 256]
                    if ingest.ink_fraction(c) >= cfg["crop"]["min_ink_frac"]:
                        crops.append(np.ascontiguousarray(c))
        doc.close()
    idx = rng.permutation(len(crops))[:max_crops]
    return [crops[i] for i in sorted(idx)], t / pages, pages


def jpeg(c: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", c, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def calibration(crops, cfg) -> list[tuple[str, float, str]]:
    def fails(c):
        return clarity_failure(clarity.scores(c), cfg["clarity"])

    rows = []
    orig = [fails(c) for c in crops]
    why = {r: orig.count(r) for r in set(orig) if r}
    rows.append(("originals kept", 1 - sum(map(bool, orig)) / len(crops), f"rejected: {why or 'none'}"))
    for s in (0.5, 1.0, 1.5, 2.0, 3.0):
        r = [fails(cv2.GaussianBlur(c, (0, 0), s)) for c in crops]
        rows.append((f"blur sigma {s} rejected", sum(map(bool, r)) / len(crops), ""))
    for q in (10, 20, 30, 50, 70, 90):
        r = [fails(jpeg(c, q)) for c in crops]
        rows.append((f"JPEG q{q} rejected", sum(map(bool, r)) / len(crops), ""))
    return rows


def per_crop_ms(fn, items) -> float:
    t = time.perf_counter()
    for x in items:
        fn(x)
    return 1000 * (time.perf_counter() - t) / len(items)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crops", type=int, default=240, help="original crops for calibration")
    ap.add_argument("--ocr-crops", type=int, default=16, help="crops timed through OCR")
    ap.add_argument("--cascade-pages", default="6-7", help="pages of each PDF for the cascade run")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    cfg = load_curate_config()
    rng = np.random.default_rng(0)
    crops, page_s, pages = page_crops(cfg, args.crops, rng)
    print(f"{len(crops)} crops from {pages} pages; PDF render {1000 * page_s:.1f} ms/page at "
          f"{cfg['ingest']['pdf_dpi']} DPI\n")

    print("| set (default thresholds) | share | note |\n|---|---|---|")
    for name, share, note in calibration(crops, cfg):
        print(f"| {name} | {100 * share:.1f}% | {note} |")

    from textsynth.ocr import OCR

    ocr = OCR()
    sample = crops[:args.ocr_crops]
    ocr.read(sample[0])  # first call builds the ONNX sessions
    stages = {
        "blank + content hash": per_crop_ms(lambda c: (ingest.ink_fraction(c), dedup.content_hash(c)), crops),
        "clarity scores (incl. blockiness)": per_crop_ms(clarity.scores, crops),
        "  of which blockiness": per_crop_ms(lambda c: clarity.blockiness(clarity.gray(c)), crops),
        "OCR (PP-OCRv5 mobile, 1 thread)": per_crop_ms(ocr.read, sample),
        "dedup keys (n-grams + phash)": per_crop_ms(lambda c: (dedup.phash(c), dedup.ngrams("x" * 300)), crops),
    }
    print("\n| stage | ms per 256x256 crop | crops/s per core |\n|---|---|---|")
    print(f"| PDF page render (per page, ~12 crops) | {1000 * page_s:.1f} | - |")
    for k, v in stages.items():
        print(f"| {k} | {v:.1f} | {1000 / v:.1f} |")

    # Whole cascade vs OCR on every non-blank crop, on the same pages.
    ccfg = load_curate_config(ingest={"pdf_pages": args.cascade_pages}, crop={"sizes": [256]})
    sources = ingest.discover([str(paths.documents_dir())])
    cascade = Cascade(ccfg, ocr=ocr)
    t = time.perf_counter()
    kept = crops_in = 0
    seconds = {}
    for part in ingest.partitions(sources, 1):
        res = cascade.run("bench", part)
        kept += len(res.candidates)
        crops_in += res.counts["crops"]
        for k, v in res.seconds.items():
            seconds[k] = seconds.get(k, 0) + v
        ocr_calls = res.counts["ocr"]
    cascade_s = time.perf_counter() - t
    t = time.perf_counter()
    n_ocr = 0
    for part in ingest.partitions(sources, 1):
        for src in part.sources:
            for page in ingest.pages(src, ccfg["ingest"]):
                if isinstance(page, ingest.Reject):
                    continue
                for c, _ in ingest.crops(page, ccfg["crop"], np.random.default_rng(0)):
                    if ingest.ink_fraction(c) >= ccfg["crop"]["min_ink_frac"]:
                        ocr.read(np.ascontiguousarray(c))
                        n_ocr += 1
    naive_s = time.perf_counter() - t
    print(f"\ncascade: {crops_in} crops -> {kept} kept in {cascade_s:.1f} s "
          f"({crops_in / cascade_s:.2f} crops/s per core); time by stage: "
          + ", ".join(f"{k} {v:.1f} s ({100 * v / cascade_s:.0f}%)" for k, v in seconds.items()))
    print(f"baseline, OCR on every non-blank crop of the same pages: {n_ocr} OCR calls in {naive_s:.1f} s "
          f"({crops_in / naive_s:.2f} crops/s); cascade speed-up {naive_s / cascade_s:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
