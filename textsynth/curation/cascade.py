"""One partition of inputs through the filter cascade, cheapest filter first.

pages -> crops -> blank (ink share) -> exact duplicate -> clarity on stroke regions ->
detection alone, batched per page (``ocr.detect_first``: the character estimate of the
line boxes against the density window; ``clarity.after_detection`` swaps it with clarity) ->
OCR (PP-OCRv5) -> clarity again on the OCR line boxes -> character density -> n-gram
duplicates within the page. Every crop ends as a *candidate* (kept so far; the job dedups
candidates across the category afterwards) or a *reject* with its reason and the scores
computed up to that point.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from pathlib import Path

import numpy as np

from textsynth.curation import clarity, dedup, ingest
from textsynth.synthesis.scripts import is_han

SIZE_BUCKETS = [("5-8", 5, 8), ("9-12", 9, 12), ("13-16", 13, 16), ("17-20", 17, 20)]
# OCR boxes are line boxes: for Chinese about the ideograph height, for Latin text the
# ascender-to-descender extent, ~1.45x the cap height that synth's px measures.
BOX_TO_PX = {"zh": 0.9, "en": 1 / 1.45, "mixed": 0.8}


@dataclass
class Crop:
    key: str
    image: np.ndarray
    meta: dict                       # the sample contract fields
    chars: int
    category: str
    page_id: str


@dataclass
class RejectRow:
    key: str
    reason: str
    detail: str
    origin: dict
    scores: dict
    image: np.ndarray | None = None  # an example picture, when there is one


@dataclass
class PartitionResult:
    candidates: list[Crop] = field(default_factory=list)
    rejects: list[RejectRow] = field(default_factory=list)
    seconds: Counter = field(default_factory=Counter)   # time per stage
    counts: Counter = field(default_factory=Counter)    # crops entering each stage


def lang_of(text: str) -> str:
    han = sum(1 for ch in text if is_han(ch))
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if han + latin == 0:
        return "en"
    share = han / (han + latin)
    return "zh" if share >= 0.7 else "en" if share <= 0.05 else "mixed"


def size_bucket(px: float) -> str:
    for name, lo, hi in SIZE_BUCKETS:
        if px < hi + 0.5:
            return name if px >= lo - 0.5 else f"<{lo}"
    return f">{SIZE_BUCKETS[-1][2]}"


def count_chars(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


def clarity_failure(s: dict, cfg: dict) -> str | None:
    if s["blockiness"] > cfg["max_blockiness"]:
        return "compressed"
    if (s["sharpness"] < cfg["min_sharpness"] or s["laplacian_var"] < cfg["min_laplacian_var"]
            or s["tenengrad"] < cfg["min_tenengrad"]):
        return "blurry"
    return None


def density_failure(chars: int, lang: str, area: int, cfg: dict) -> str | None:
    lo, hi = cfg["chars"][lang]
    if cfg["scale_to_256"]:
        lo, hi = lo * area / 256 ** 2, hi * area / 256 ** 2
    per_mpx = chars / (area / 1e6)
    if chars < lo or per_mpx < cfg["per_mpx"][0]:
        return "too_few_chars"
    if chars > hi or per_mpx > cfg["per_mpx"][1]:
        return "too_many_chars"
    return None


def detection_failure(fewest: float, most: float, area: int, cfg: dict, margins: list[float]) -> str | None:
    """Reject a crop on its line boxes alone only when no script could bring its character
    count into the density window: even read as Latin (most characters) it has too few, or
    even read as Han (fewest) too many. ``margins`` widen the window for the estimate's error."""
    lo = min(r[0] for r in cfg["chars"].values())
    hi = max(r[1] for r in cfg["chars"].values())
    if cfg["scale_to_256"]:
        lo, hi = lo * area / 256 ** 2, hi * area / 256 ** 2
    if most < lo * margins[0]:
        return "det_too_few_chars"
    if fewest > hi * margins[1]:
        return "det_too_many_chars"
    return None


class Cascade:
    """The filters with their config; ``ocr`` is built on first use (it is the slow part to
    load, ~1 s, and a partition of unreadable files never needs it)."""

    def __init__(self, cfg: dict, ocr=None):
        self.cfg = cfg
        self._ocr = ocr
        self._detector = None

    @property
    def ocr(self):
        if self._ocr is None:
            from textsynth.ocr import OCR

            o = self.cfg["ocr"]
            self._ocr = OCR(model_dir=o["model_dir"] or None, det_dir=o["det_dir"] or None,
                            rec_dir=o["rec_dir"] or None, device="gpu:0" if o["device"] == "cuda" else "cpu")
        return self._ocr

    @property
    def detector(self):
        if self._detector is None:
            from textsynth import paths
            from textsynth.ocr import DET_NAME
            from textsynth.ocr_det import Detector

            o = self.cfg["ocr"]
            det_dir = o["det_dir"] or Path(o["model_dir"] or paths.models_dir()) / DET_NAME
            self._detector = Detector(det_dir, device=o["device"])
        return self._detector

    def run(self, dataset: str, part: ingest.Partition) -> PartitionResult:
        res = PartitionResult()
        rng = np.random.default_rng([self.cfg["seed"], part.index])
        n = 0
        seen_hashes: set[str] = set()
        for src in part.sources:
            t = time.perf_counter()
            for page in ingest.pages(src, self.cfg["ingest"]):
                res.seconds["ingest"] += time.perf_counter() - t
                if isinstance(page, ingest.Reject):
                    res.rejects.append(RejectRow(f"{dataset}-{part.index:06d}-r{n:05d}", page.reason,
                                                 page.detail, page.origin, {}))
                    n += 1
                    t = time.perf_counter()
                    continue
                page_id = f"{page.origin['file']}#{page.origin.get('key') or page.origin.get('page')}"
                screened = []
                for img, origin in ingest.crops(page, self.cfg["crop"], rng):
                    key = f"{dataset}-{part.index:06d}-{n:06d}"
                    n += 1
                    scores = self._screen(key, img, origin, seen_hashes, res)
                    if scores is not None:
                        screened.append((key, img, origin, scores))
                screened = self._screen_and_detect(screened, res)
                page_crops = [c for key, img, origin, scores in screened
                              if (c := self._read(key, img, origin, scores, page.category or src.category,
                                                  page_id, res)) is not None]
                self._dedup_page(page_crops, res)
                t = time.perf_counter()
            res.seconds["ingest"] += time.perf_counter() - t
        return res

    def _screen(self, key, img, origin, seen_hashes, res) -> dict | None:
        """The cheapest filters (blank, exact duplicate): the crop's scores, or None."""
        cfg = self.cfg
        res.counts["crops"] += 1

        def reject(reason, detail="", scores=None):
            res.rejects.append(RejectRow(key, reason, detail, origin, scores or {}, img))

        t = time.perf_counter()
        ink = ingest.ink_fraction(img)
        chash = dedup.content_hash(img)
        res.seconds["blank+hash"] += time.perf_counter() - t
        if ink < cfg["crop"]["min_ink_frac"]:
            return reject("blank", f"ink {ink:.4f} < {cfg['crop']['min_ink_frac']}", {"ink_frac": ink})
        if chash in seen_hashes:
            return reject("dup_exact", "same pixels as an earlier crop of this partition")
        seen_hashes.add(chash)
        return {"ink_frac": ink}

    def _clear(self, key, img, origin, scores, res) -> bool:
        """The clarity filter over stroke regions (blur, compression); adds its scores."""
        res.counts["clarity"] += 1
        t = time.perf_counter()
        scores.update(clarity.scores(img))
        res.seconds["clarity"] += time.perf_counter() - t
        if why := clarity_failure(scores, self.cfg["clarity"]):
            res.rejects.append(RejectRow(key, why, "clarity over stroke regions", origin, scores, img))
            return False
        return True

    def _screen_and_detect(self, screened: list, res: PartitionResult) -> list:
        """Clarity and detection, in the configured order. Clarity first (the default): a
        blurred or over-compressed page is rejected for what it is, not for text detection
        can no longer find. Detection first (``clarity.after_detection``): cheaper where most
        input has no text at all, as in web-scale mining (both cost ~17 ms a 256 crop, and
        clarity's JPEG probe grows with the image)."""
        detect = self.cfg["ocr"]["detect_first"]
        after = detect and self.cfg["clarity"]["after_detection"]
        if not after:
            screened = [x for x in screened if self._clear(*x, res)]
        if detect:
            screened = self._detect(screened, res)
        if after:
            screened = [x for x in screened if self._clear(*x, res)]
        return screened

    def _detect(self, screened: list, res: PartitionResult) -> list:
        """Text detection alone on a page's screened crops (one batch): rejects those whose
        line boxes cannot hold a character count inside the density window."""
        from textsynth.ocr_det import estimate

        if not screened:
            return screened
        res.counts["detect"] += len(screened)
        t = time.perf_counter()
        sides = self.detector.boxes([img for _, img, _, _ in screened])
        res.seconds["detect"] += time.perf_counter() - t
        out = []
        for (key, img, origin, scores), s in zip(screened, sides):
            fewest, most = estimate(s)
            scores.update(det_lines=len(s), det_chars_min=round(fewest, 1), det_chars_max=round(most, 1))
            why = detection_failure(fewest, most, img.shape[0] * img.shape[1], self.cfg["density"],
                                    self.cfg["ocr"]["det_margins"])
            if why:
                res.rejects.append(RejectRow(key, why, f"{len(s)} line boxes hold {fewest:.0f}-{most:.0f} "
                                             "characters (estimate before recognition)", origin, scores, img))
            else:
                out.append((key, img, origin, scores))
        return out

    def _read(self, key, img, origin, scores, category, page_id, res) -> Crop | None:
        """OCR (detection + recognition), clarity over the line boxes, density: a candidate or None."""
        cfg = self.cfg

        def reject(reason, detail="", scores=None):
            res.rejects.append(RejectRow(key, reason, detail, origin, scores or {}, img))

        res.counts["ocr"] += 1
        t = time.perf_counter()
        lines = [ln for ln in self.ocr.read(np.ascontiguousarray(img)) if ln.score >= cfg["ocr"]["min_score"]]
        res.seconds["ocr"] += time.perf_counter() - t
        text = "\n".join(ln.text for ln in lines)
        chars = count_chars(text)
        lang = lang_of(text)
        h, w = img.shape[:2]
        scores.update(ocr_chars=chars, ocr_lines=len(lines),
                      chars_per_mpx=round(chars / (h * w / 1e6), 1))
        if lines:
            t = time.perf_counter()
            boxed = clarity.scores(img, [ln.bbox for ln in lines])
            res.seconds["clarity"] += time.perf_counter() - t
            scores.update({k: boxed[k] for k in ("laplacian_var", "tenengrad", "sharpness")},
                          text_frac=boxed["text_frac"])
            if why := clarity_failure(scores, cfg["clarity"]):
                return reject(why, "clarity over OCR line boxes", scores)
        if why := density_failure(chars, lang, h * w, cfg["density"]):
            return reject(why, f"{chars} {lang} chars in {w}x{h}", scores)

        factor = BOX_TO_PX[lang]
        out_lines = [{"text": ln.text, "bbox": list(ln.bbox), "font": None,
                      "px": round((ln.bbox[3] - ln.bbox[1]) * factor, 1), "score": round(ln.score, 4)}
                     for ln in lines]
        char_px = float(np.median([ln["px"] for ln in out_lines])) if out_lines else 0.0
        meta = {"source": "doc", "lang": lang, "width": w, "height": h, "text": text,
                "lines": out_lines, "char_px": char_px, "size_bucket": size_bucket(char_px),
                "recipe": None, "origin": {**origin, "category": category},
                "scores": {k: round(float(v), 4) for k, v in scores.items()}}
        return Crop(key, img, meta, chars, category, page_id)

    def _dedup_page(self, crops: list[Crop], res: PartitionResult) -> None:
        ngram = self.cfg["dedup"]["ngram"]
        cands = [dedup.Candidate(c.key, c.page_id, c.chars, dedup.ngrams(c.meta["text"], ngram["zh"], ngram["en"]))
                 for c in crops]
        dropped = dedup.near_duplicates(cands, self.cfg["dedup"]["page_threshold"])
        for c in crops:
            if c.key in dropped:
                reason, other = dropped[c.key]
                res.rejects.append(RejectRow(c.key, f"{reason}_page", f"duplicates {other}",
                                             c.meta["origin"], c.meta["scores"], c.image))
            else:
                res.candidates.append(c)
