"""Calibrate the text-fidelity evaluation (issue 7): does NED separate compression levels?

    TEXTSYNTH_HOME=<ci cache> python benchmarks/eval_calibration.py [--checkpoint CKPT]

    TEXTSYNTH_HOME=<ci cache> python benchmarks/eval_calibration.py --doc-from pages

Builds two benches and evaluates the built-in references on both:
- a doc bench with `textsynth bench build` from the ci profile's PDFs (seeded sample of
  block crops, the report's filters), or with ``--doc-from pages`` from page *images*: the
  PDFs' pages rasterised at 110-200 dpi, a third of them degraded (JPEG q55, a slight blur,
  a 0.6x scan-like resample), so blocks come from PP-OCRv5 detection, not a text layer;
- a synthetic bench: held-out synth samples (seed 12345, not a training seed), all four size
  buckets, ground truth known.
References: identity, bicubic f8/f16/f32, JPEG q90/50/20, plus a trainer checkpoint if given.
Prints one Markdown table per bench; the per-model outputs stay under --out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MODELS = ["identity", "jpeg-q90", "jpeg-q50", "jpeg-q20", "bicubic-f8", "bicubic-f16", "bicubic-f32"]


def synth_bench(out: Path, n: int) -> None:
    from textsynth.config import load_config
    from textsynth.synthesis.generate import Stats, make_sample
    from textsynth.synthesis.recipe import Skip
    from textsynth.synthesis.render import encode
    from textsynth.synthesis.resources import Resources
    from textsynth.shards import filesystem, pack, publish

    res = Resources(load_config())
    samples = []
    for i in range(n):
        try:
            img, meta = make_sample(res, 12345, i, Stats())
        except Skip:
            continue
        key = f"synthbench-000000-{i:06d}"
        samples.append((key, f"{key}.png", encode(img, "png"), meta))
    fs, root = filesystem(str(out))
    for d in ("shards", "_completions"):
        fs.create_dir(f"{root}/{d}", recursive=True)
    publish(fs, root, "synthbench-000000", *pack(samples), len(samples))


def page_images(out: Path, pages_per_pdf: int, seed: int = 0) -> Path:
    """The ci profile's PDF pages as PNG/JPEG screenshots in ``out``, sharp and degraded."""
    import cv2
    import numpy as np
    import pypdfium2 as pdfium

    from textsynth import paths

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for pdf in sorted(paths.documents_dir().rglob("*.pdf")):
        doc = pdfium.PdfDocument(str(pdf))
        for i in sorted(rng.choice(len(doc), min(pages_per_pdf, len(doc)), replace=False).tolist()):
            dpi = int(rng.choice([110, 150, 200]))
            img = cv2.cvtColor(doc[i].render(scale=dpi / 72).to_numpy()[:, :, :3].copy(), cv2.COLOR_RGB2BGR)
            how = ["sharp", "sharp", "sharp", "jpeg", "blur", "rescan"][i % 6]
            name = f"{pdf.stem}-p{i + 1}-{dpi}dpi-{how}"
            if how == "jpeg":
                cv2.imwrite(str(out / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 55])
                continue
            if how == "blur":
                img = cv2.GaussianBlur(img, (0, 0), 0.7)
            elif how == "rescan":
                small = cv2.resize(img, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
                img = cv2.resize(small, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
            cv2.imwrite(str(out / f"{name}.png"), img)
        doc.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out/eval-calibration")
    ap.add_argument("--doc-candidates", type=int, default=240)
    ap.add_argument("--doc-from", choices=["pdfs", "pages"], default="pdfs",
                    help="build the doc bench from the PDFs' text layer or from page images")
    ap.add_argument("--pages-per-pdf", type=int, default=6)
    ap.add_argument("--synth-samples", type=int, default=40)
    ap.add_argument("--checkpoint", help="a `textsynth train` checkpoint to evaluate too")
    args = ap.parse_args()

    from textsynth import paths
    from textsynth.evaluation.bench import build
    from textsynth.evaluation.run import evaluate
    from textsynth.ocr import OCR

    out = Path(args.out)
    ocr = OCR()
    doc = out / ("docbench" if args.doc_from == "pdfs" else "pagebench")
    if not (doc / "stats.json").is_file():
        src = paths.documents_dir() if args.doc_from == "pdfs" else page_images(out / "pages", args.pages_per_pdf)
        stats = build([str(src)], str(doc), max_candidates=args.doc_candidates, ocr=ocr, progress=False)
        print("doc bench:", {k: v for k, v in stats.items() if k != "skips"})
    synth = out / "synthbench"
    if not (synth / "_completions").is_dir():
        synth_bench(synth, args.synth_samples)
    models = MODELS + ([args.checkpoint] if args.checkpoint else [])
    for bench in (doc, synth):
        rows = []
        for m in models:
            r = evaluate(str(bench), m, str(out / f"{bench.name}--{Path(m).name}"),
                         cache_dir=str(out / "ocr-cache"), ocr=ocr, progress=False)
            rows.append(r)
        o = rows[0]
        print(f"\n### {bench.name}: {o['overall']['n']} images, by lang "
              f"{ {k: v['n'] for k, v in o['by_lang'].items()} }\n")
        extra = "gt_ned_orig" in o["overall"]
        head = "| model | NED | PSNR | SSIM |" + (" OCR vs GT (recon) |" if extra else "")
        buckets = sorted(o["by_size_bucket"])
        head += "".join(f" NED {b} |" for b in buckets) if extra else ""
        print(head + "\n" + "|---" * (head.count("|") - 1) + "|")
        for r in rows:
            a = r["overall"]
            line = f"| {Path(r['model']).name} | {a['ned']:.3f} | {a['psnr']:.1f} | {a['ssim']:.3f} |"
            if extra:
                line += f" {a['gt_ned_recon']:.3f} |"
                line += "".join(f" {r['by_size_bucket'][b]['ned']:.3f} |" for b in buckets)
            print(line)
        print(json.dumps({Path(r["model"]).name: r["overall"] for r in rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
