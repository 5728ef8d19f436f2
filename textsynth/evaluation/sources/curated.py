"""Bench candidates from curated doc shards: each crop's first OCR line is its block's corner,
its median OCR line height the character size."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import cv2
import numpy as np

from textsynth.evaluation.sources.common import Candidate, Skips, scale_for, scaled_crop


def candidates(root: Path, category: str, skips: Skips) -> list[Candidate]:
    out = []
    for shard in sorted((root / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            members = {m.name: m for m in tar.getmembers()}
            for name in sorted(n for n in members if n.endswith(".json")):
                meta = json.loads(tar.extractfile(members[name]).read())
                key = name[:-5]
                page_id = f"{meta['origin'].get('file')}#{meta['origin'].get('page')}"
                skips.pages.setdefault(page_id, None)
                if not meta.get("lines"):
                    skips.skip("no_ocr_lines", f"{shard.name}:{key}", page=page_id)
                    continue
                img_name = next(n for n in members if n.startswith(key + ".") and n != name)
                img = cv2.imdecode(np.frombuffer(tar.extractfile(members[img_name]).read(), np.uint8), cv2.IMREAD_COLOR)
                lang = "zh" if meta["lang"] in ("zh", "mixed") else "en"
                em = float(np.median([ln["bbox"][3] - ln["bbox"][1] for ln in meta["lines"]]))
                scale = scale_for(lang, em)
                if scale is None:
                    skips.skip("implausible_char_size", f"{shard.name}:{key}", f"line height {em:.1f} px", page=page_id)
                    continue
                x0, y0 = meta["lines"][0]["bbox"][:2]
                got = scaled_crop(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), x0, y0, scale)
                if got is None:
                    skips.skip("page_smaller_than_crop", f"{shard.name}:{key}", page=page_id)
                    continue
                crop, box = got
                out.append(Candidate(crop, {**meta["origin"], "from_key": key, "scale": scale, "box": box, "line_px": round(em, 2),
                                            "data_source": category}, page_id, category, lang))
    return out
