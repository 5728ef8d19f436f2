"""A contact sheet: many samples in one image for a quick look."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def contact_sheet(images: list[np.ndarray], out: Path, cell: int = 256, max_cols: int = 8,
                  gap: int = 4) -> Path:
    if not images:
        raise ValueError("contact sheet needs at least one image")
    cols = min(max_cols, len(images))
    rows = math.ceil(len(images) / cols)
    sheet = Image.new("RGB", (cols * (cell + gap) + gap, rows * (cell + gap) + gap), (40, 40, 40))
    for i, arr in enumerate(images):
        im = Image.fromarray(arr)
        im.thumbnail((cell, cell), Image.NEAREST)  # nearest: small text stays crisp
        sheet.paste(im, (gap + (i % cols) * (cell + gap), gap + (i // cols) * (cell + gap)))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
