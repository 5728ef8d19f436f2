"""Bench candidates from curated doc shards: each crop's first OCR line is its block's corner,
its median OCR line height the character size."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from textsynth.evaluation.sources.common import Candidate, Skips, scale_for, scaled_crop


def candidates(root: Path, category: str, skips: Skips) -> list[Candidate]:
    from textsynth.evaluation.run import bench_members

    out = []
    for key, _, data, meta in bench_members(root):
        page_id = f"{meta['origin'].get('file')}#{meta['origin'].get('page')}"
        skips.pages.setdefault(page_id, None)
        if not meta.get("lines"):
            skips.skip("no_ocr_lines", key, page=page_id)
            continue
        lang = "zh" if meta["lang"] in ("zh", "mixed") else "en"
        em = float(np.median([ln["bbox"][3] - ln["bbox"][1] for ln in meta["lines"]]))
        scale = scale_for(lang, em)
        if scale is None:
            skips.skip("implausible_char_size", key, f"line height {em:.1f} px", page=page_id)
            continue
        img = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        x0, y0 = meta["lines"][0]["bbox"][:2]
        got = scaled_crop(img, x0, y0, scale)
        if got is None:
            skips.skip("page_smaller_than_crop", key, page=page_id)
            continue
        crop, box = got
        out.append(Candidate(crop, {**meta["origin"], "from_key": key, "scale": scale, "box": box,
                                    "line_px": round(em, 2), "data_source": category}, page_id, category, lang))
    return out
