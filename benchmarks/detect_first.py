"""Detection-first curation (issue 17): calibration and speed, in one run, on one core.

    TEXTSYNTH_HOME=<ci cache> python benchmarks/detect_first.py [--docs 60 --textrich 60 --photos 180]

Input set, 256x256 crops, mixed as web-scale input is (mostly photos without text):
- documents: non-blank tiles of the ci profile's PDF pages at 96 dpi (as curation cuts them);
- text-rich photos: textsynth renders (default config: 5-20 px English/Chinese over photos);
- text-free photos: random crops of the ci background photos.

Three ways through the same crops, timed in the same process:
1. OCR-everything: PP-OCRv5 (det + rec) on every crop, then the density window;
2. the cascade without detection first (blank, clarity, OCR, density), the kept-set reference;
3. the cascade with detection first (``ocr.detect_first``): batched detection, the estimate,
   recognition only for the rest.
Prints: the estimate's rank correlation with recognised counts, false rejects (crops that 2.
keeps and 3. rejects before recognition) as a share of 2.'s kept set, crops/s of each.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from curation import page_crops  # noqa: E402

from textsynth import paths  # noqa: E402
from textsynth.curation.cascade import Cascade, PartitionResult, count_chars, density_failure, lang_of  # noqa: E402
from textsynth.curation.config import load_curate_config  # noqa: E402


def textrich(n: int) -> list[np.ndarray]:
    from textsynth.config import load_config
    from textsynth.synthesis.generate import Stats, make_sample
    from textsynth.synthesis.recipe import Skip
    from textsynth.synthesis.resources import Resources

    res, out, i = Resources(load_config(None, seed=77)), [], 0
    while len(out) < n:
        try:
            img, _ = make_sample(res, 77, i, Stats())
            out.append(np.ascontiguousarray(img[:256, :256]))
        except Skip:
            pass
        i += 1
    return out


def photos(n: int, rng) -> list[np.ndarray]:
    files = sorted(p for p in paths.backgrounds_dir().rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    out = []
    while len(out) < n:
        img = cv2.imread(str(files[int(rng.integers(len(files)))]), cv2.IMREAD_COLOR)
        if img is None or min(img.shape[:2]) < 256:
            continue
        y, x = int(rng.integers(img.shape[0] - 255)), int(rng.integers(img.shape[1] - 255))
        out.append(np.ascontiguousarray(img[y:y + 256, x:x + 256, ::-1]))
    return out


def cascade_pass(casc: Cascade, crops, detect_first: bool, clarity_after: bool = False
                 ) -> tuple[set[int], float, PartitionResult]:
    """The cascade's stages over the crops (one 'page' of 16 at a time, as a partition runs)."""
    casc.cfg["ocr"]["detect_first"] = detect_first
    casc.cfg["clarity"]["after_detection"] = clarity_after
    res, kept, seen = PartitionResult(), set(), set()
    t = time.perf_counter()
    for s in range(0, len(crops), 16):
        screened = [(str(i), crops[i], {"file": "bench", "page": None}, sc) for i in range(s, min(s + 16, len(crops)))
                    if (sc := casc._screen(str(i), crops[i], {"file": "bench", "page": None}, seen, res)) is not None]
        screened = casc._screen_and_detect(screened, res)
        for key, img, origin, scores in screened:
            if casc._read(key, img, origin, scores, "bench", "p", res) is not None:
                kept.add(int(key))
    return kept, time.perf_counter() - t, res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=60)
    ap.add_argument("--textrich", type=int, default=60)
    ap.add_argument("--photos", type=int, default=180)
    ap.add_argument("--out", default="out/detect-first.json")
    ap.add_argument("--margins", type=lambda v: [float(x) for x in v.split(",")], default=[0.8, 0.5, 1.0],
                    help="low det_margins to sweep (the first is also the main detect-first pass)")
    args = ap.parse_args()

    cfg = load_curate_config(None)
    cfg["crop"]["sizes"] = [256]
    rng = np.random.default_rng(0)
    docs, _, _ = page_crops(cfg, args.docs, rng)
    crops = docs + textrich(args.textrich) + photos(args.photos, rng)
    kinds = ["doc"] * len(docs) + ["textrich"] * args.textrich + ["photo"] * args.photos
    casc = Cascade(cfg)
    casc.ocr.read(crops[0])  # load both models before timing
    casc.detector.boxes(crops[:1])

    # 1. OCR everything, and the calibration data (the estimate against what OCR reads)
    t = time.perf_counter()
    recognised, ocr_kept, kind_seconds = [], set(), {}
    for i, c in enumerate(crops):
        t1 = time.perf_counter()
        text = "\n".join(ln.text for ln in casc.ocr.read(c) if ln.score >= cfg["ocr"]["min_score"])
        kind_seconds[kinds[i]] = kind_seconds.get(kinds[i], 0.0) + time.perf_counter() - t1
        chars, lang = count_chars(text), lang_of(text)
        recognised.append(chars)
        if density_failure(chars, lang, 256 * 256, cfg["density"]) is None:
            ocr_kept.add(i)
    t_all = time.perf_counter() - t
    from textsynth.ocr_det import estimate
    from scipy.stats import spearmanr

    t = time.perf_counter()
    sides = casc.detector.boxes(crops)
    t_det = time.perf_counter() - t
    est = [estimate(s) for s in sides]
    with_text = [i for i, n in enumerate(recognised) if n > 0]
    rho = spearmanr([est[i][1] for i in with_text], [recognised[i] for i in with_text]).statistic

    # 2. and 3.
    ref, t_ref, _ = cascade_pass(casc, crops, detect_first=False)
    # Tightest low margin that keeps every reference-kept crop: its estimate (read as Latin)
    # over the window's floor. Below it, detection first cannot lose a kept crop.
    lo = min(r[0] for r in cfg["density"]["chars"].values())
    tightest = min((est[i][1] / lo for i in ref), default=None)
    sweep = {}
    for m in args.margins:
        casc.cfg["ocr"]["det_margins"] = [m, 2.0]
        kept_m, t_m, res_m = cascade_pass(casc, crops, detect_first=True)
        sweep[str(m)] = {"seconds": round(t_m, 1), "crops_per_s": round(len(crops) / t_m, 2),
                         "kept": len(kept_m), "false_rejects": len(ref - kept_m),
                         "recognised": res_m.counts["ocr"], "speedup_vs_ocr_everything": round(t_all / t_m, 2)}
    casc.cfg["ocr"]["det_margins"] = [args.margins[0], 2.0]
    fast, t_fast, res = cascade_pass(casc, crops, detect_first=True)
    false_rejects = sorted(ref - fast)
    mined, t_mined, _ = cascade_pass(casc, crops, detect_first=True, clarity_after=True)
    result = {
        "crops": {k: kinds.count(k) for k in ("doc", "textrich", "photo")},
        "spearman_estimate_vs_recognised": round(float(rho), 3), "crops_with_text": len(with_text),
        "detection_ms_per_crop_batched": round(1000 * t_det / len(crops), 1),
        "ocr_everything": {"seconds": round(t_all, 1), "crops_per_s": round(len(crops) / t_all, 2),
                           "kept": len(ocr_kept)},
        "cascade": {"seconds": round(t_ref, 1), "crops_per_s": round(len(crops) / t_ref, 2), "kept": len(ref)},
        "detect_first": {"seconds": round(t_fast, 1), "crops_per_s": round(len(crops) / t_fast, 2),
                         "kept": len(fast), "recognised": res.counts["ocr"],
                         "rejected_before_recognition": {k: v for k, v in
                                                         __import__("collections").Counter(
                                                             r.reason for r in res.rejects).items()}},
        "false_rejects": len(false_rejects), "false_reject_share": round(len(false_rejects) / max(1, len(ref)), 4),
        "false_reject_kinds": [kinds[i] for i in false_rejects],
        "kept_only_by_detect_first": len(fast - ref),
        "speedup_vs_ocr_everything": round(t_all / t_fast, 2), "speedup_vs_cascade": round(t_ref / t_fast, 2),
        "detection_before_clarity": {"seconds": round(t_mined, 1), "crops_per_s": round(len(crops) / t_mined, 2),
                                     "kept": len(mined), "lost_vs_cascade": len(ref - mined),
                                     "speedup_vs_ocr_everything": round(t_all / t_mined, 2)},
        "tightest_safe_low_margin": round(tightest, 3) if tightest else None,
        "margin_sweep": sweep,
    }
    by_kind = {}
    for k in ("doc", "textrich", "photo"):
        idx = [i for i, x in enumerate(kinds) if x == k]
        by_kind[k] = {"ocr_ms_per_crop": round(1000 * kind_seconds[k] / len(idx), 1),
                      "detection_ms_per_crop": round(1000 * t_det / len(crops), 1),
                      "ocr_kept": len(ocr_kept & set(idx)), "cascade_kept": len(ref & set(idx)),
                      "detect_first_kept": len(fast & set(idx))}
    result["by_kind"] = by_kind
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
