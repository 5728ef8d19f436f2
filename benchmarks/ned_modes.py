"""Calibrate line-level NED against page-level NED (issue 26, item 3).

    TEXTSYNTH_HOME=<ci cache> python benchmarks/ned_modes.py [--synth 20] [--doc-pages 6]

Builds two small benches, evaluates the built-in references in both NED modes of
`textsynth eval` (``--ned page``, the report's eq. 5, and ``--ned lines``) and prints one
Markdown table per bench:
- a synthetic bench: held-out synth samples (seed 12345, not a training seed, all size
  buckets), read at their labelled line boxes in line mode;
- a document bench: the densest 256x256 crops of ci-profile PDF pages rendered at 120 dpi
  (body text 13-18 px), as `bench build` crops them but without its OCR filters (cheap to
  build), read at boxes PP-OCRv5 detection finds once on the original.
Columns: mean NED per mode; Spearman's rho between the modes over the bench's images (per
model; identity is constant, so it has none); seconds per image of each mode with the
originals' reading cached (what every model after the first costs), and of the first,
uncached run (originals read too). Runtime ~15 min on 2 shared cores, mostly page mode on
the document crops.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

MODELS = ["identity", "jpeg-q90", "jpeg-q50", "jpeg-q20", "bicubic-f4", "bicubic-f8", "bicubic-f16"]
PDF_PAGES = {"latex_lshort-chinese_lshort-zh-cn.pdf": "zh", "latex_ctex-faq_ctex-faq.pdf": "zh",
             "xelatex_nanicolle_nanicolle-doc-en.pdf": "en", "latex_fduthesis_fduthesis-en.pdf": "en"}


def publish_bench(out: Path, samples: list) -> None:
    from textsynth.shards import filesystem, pack, publish

    fs, root = filesystem(str(out))
    for d in ("shards", "_completions"):
        fs.create_dir(f"{root}/{d}", recursive=True)
    publish(fs, root, "bench-000000", *pack(samples), len(samples))


def doc_bench(out: Path, pages_per_pdf: int, seed: int = 0) -> None:
    """Per ci PDF, the densest crop of ``pages_per_pdf`` seeded pages (a page with < 4% ink
    there, e.g. a blank or a figure, gives none)."""
    import pypdfium2 as pdfium

    from textsynth import paths
    from textsynth.synthesis.render import encode

    rng = np.random.default_rng(seed)
    samples = []
    for pdf in sorted(paths.documents_dir().rglob("*.pdf")):
        doc = pdfium.PdfDocument(str(pdf))
        for i in sorted(rng.choice(len(doc), min(pages_per_pdf, len(doc)), replace=False).tolist()):
            img = doc[i].render(scale=120 / 72).to_numpy()[:, :, :3].copy()
            tiles = [img[y:y + 256, x:x + 256] for y in range(0, img.shape[0] - 255, 128)
                     for x in range(0, img.shape[1] - 255, 128)]
            tile = max(tiles, key=lambda t: (t.mean(axis=2) < 128).mean())
            if (tile.mean(axis=2) < 128).mean() < 0.04:
                continue
            key = f"bench-000000-{len(samples):06d}"
            meta = {"source": "doc", "lang": PDF_PAGES.get(pdf.name, "unknown"), "size_bucket": None,
                    "origin": {"category": "docs", "file": pdf.name, "page": i + 1, "dpi": 120.0}}
            samples.append((key, f"{key}.png", encode(np.ascontiguousarray(tile), "png"), meta))
        doc.close()
    publish_bench(out, samples)


def spearman(a, b) -> float | None:
    """Spearman's rho (ties get their mean rank); None when either side is constant."""
    def ranks(x):
        x = np.asarray(x, float)
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for v in np.unique(x):            # ties: their mean rank
            r[x == v] = r[x == v].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out/ned-modes")
    ap.add_argument("--synth", type=int, default=20, help="synthetic bench samples")
    ap.add_argument("--doc-pages", type=int, default=5, help="pages drawn per ci PDF (one crop each)")
    args = ap.parse_args()

    import pyarrow.parquet as pq

    from eval_calibration import synth_bench
    from textsynth.evaluation.run import LineReader, evaluate
    from textsynth.ocr import OCR

    out = Path(args.out)
    benches = {"synthbench": out / "synthbench", "docbench": out / "docbench"}
    if not (benches["synthbench"] / "_completions").is_dir():
        synth_bench(benches["synthbench"], args.synth)
    if not (benches["docbench"] / "_completions").is_dir():
        doc_bench(benches["docbench"], args.doc_pages)
    ocr, reader = OCR(), LineReader()
    summary = {}
    for name, bench in benches.items():
        res: dict = {}
        for mode in ("page", "lines"):
            cache = out / f"cache-{mode}"      # a fresh cache per mode: the first model pays the originals
            for m in MODELS:
                r = evaluate(str(bench), m, str(out / f"{name}--{m}--{mode}"), cache_dir=str(cache), ocr=ocr,
                             progress=False, ned_mode=mode, line_reader=reader)
                rows = pq.read_table(out / f"{name}--{m}--{mode}" / "per_image.parquet").to_pylist()
                res[m, mode] = {"ned": r["overall"]["ned"], "seconds": r["seconds"], "n": r["overall"]["n"],
                                "cached": r["ocr_cache_hits"] == r["overall"]["n"],
                                "per_image": [x["ned"] for x in rows]}
        n = res[MODELS[0], "page"]["n"]
        print(f"\n### {name}: {n} images\n")
        print("| model | NED page | NED lines | Spearman page~lines | s/img page | s/img lines |")
        print("|---|---|---|---|---|---|")
        for m in MODELS:
            p, l = res[m, "page"], res[m, "lines"]
            rho = spearman(p["per_image"], l["per_image"])
            print(f"| {m}{'' if p['cached'] else ' (uncached)'} | {p['ned']:.3f} | {l['ned']:.3f} | "
                  f"{'–' if rho is None else f'{rho:.2f}'} | {p['seconds'] / n:.2f} | {l['seconds'] / n:.2f} |")
        pooled = [m for m in MODELS if m != "identity"]
        rho_all = spearman([v for m in pooled for v in res[m, "page"]["per_image"]],
                           [v for m in pooled for v in res[m, "lines"]["per_image"]])
        # Speed where it matters: reconstructions that keep their text. On a blurred one page
        # mode detects nothing and skips recognition, while line mode still reads every line.
        cached = {mode: np.mean([res[m, mode]["seconds"] / n for m in MODELS
                                 if res[m, mode]["cached"] and m.startswith("jpeg")]) for mode in ("page", "lines")}
        print(f"\nSpearman over all (image, degraded model) pairs: {rho_all:.2f}; seconds per image on the "
              f"JPEG reconstructions, originals cached: page {cached['page']:.2f}, lines {cached['lines']:.2f} "
              f"({cached['page'] / cached['lines']:.1f}x)")
        summary[name] = {"n": n, "spearman_pooled": rho_all, "s_per_img_cached": cached,
                         "ned": {f"{m}/{mode}": res[m, mode]["ned"] for m, mode in res}}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
