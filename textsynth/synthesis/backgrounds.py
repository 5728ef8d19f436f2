"""Background photos: discovery, safe decoding, random crops resized to the canvas.

Photos are decoded once per process and kept in a small LRU (by bytes). Large photos are
downscaled on load to ``max_side`` (by default twice the canvas's longer side, so a crop is
never shrunk more than ~2x when resized and the resize stays cheap); the recipe records
``max_side`` so a crop box always means the same pixels.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from textsynth import paths

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


class BadImage(ValueError):
    """An image that cannot be used; ``reason`` is a short machine-friendly tag."""

    def __init__(self, name: str, reason: str, detail: str = ""):
        super().__init__(f"background {name}: {reason}" + (f" ({detail})" if detail else ""))
        self.name, self.reason = name, reason


def decode_image(path: Path, max_pixels: int) -> np.ndarray:
    """Decode to RGB uint8, refusing decompression bombs and truncated files."""
    name = str(path)
    try:
        with Image.open(path) as im:
            if im.width * im.height > max_pixels:
                raise BadImage(name, "too_many_pixels", f"{im.width}x{im.height} > {max_pixels}")
            im.load()  # raises on truncated data
            return np.asarray(im.convert("RGB"))
    except BadImage:
        raise
    except Image.DecompressionBombError as e:   # Pillow's own guard fires first on huge headers
        raise BadImage(name, "too_many_pixels", str(e)) from None
    except FileNotFoundError:
        raise BadImage(name, "missing") from None
    except Exception as e:  # PIL raises many types for corrupt data
        raise BadImage(name, "corrupt_image", f"{type(e).__name__}: {e}") from None


class Backgrounds:
    """The photos under some folders, by name (path relative to its folder)."""

    def __init__(self, dirs: list[Path] | None = None, max_side: int = 512,
                 max_pixels: int = 40_000_000, cache_bytes: int = 160 << 20):
        self.max_side = max_side
        dirs = [Path(d) for d in (dirs or [paths.backgrounds_dir()])]
        self.files: dict[str, Path] = {}
        for d in dirs:
            for p in sorted(d.rglob("*")):
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
                    self.files.setdefault(p.relative_to(d).as_posix(), p)
        if not self.files:
            raise ValueError(f"no background images under {', '.join(map(str, dirs))}; "
                             "run `textsynth assets fetch` or set background.dirs")
        self.names = sorted(self.files)
        self.bad: dict[str, str] = {}  # name -> reason: a draw that names it is a counted skip
        self.max_pixels, self.cache_bytes = max_pixels, cache_bytes
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._last_crop: tuple | None = None

    def load(self, name: str) -> np.ndarray:
        img = self._cache.get(name)
        if img is not None:
            self._cache.move_to_end(name)
            return img
        if name not in self.files:
            raise BadImage(name, "missing", "not in background.dirs")
        try:
            img = decode_image(self.files[name], self.max_pixels)
        except BadImage as e:
            self.bad[name] = e.reason
            raise
        scale = self.max_side / max(img.shape[:2])
        if scale < 1:
            img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                             interpolation=cv2.INTER_AREA)
        self._cache[name] = img
        while sum(a.nbytes for a in self._cache.values()) > self.cache_bytes and len(self._cache) > 1:
            self._cache.popitem(last=False)
        return img

    def sample_box(self, rng: np.random.Generator, name: str, width: int, height: int,
                   min_frac: float) -> list[int]:
        """A crop [x, y, w, h] with the canvas's aspect ratio inside the (scaled) photo."""
        img = self.load(name)
        H, W = img.shape[:2]
        fit = min(W / width, H / height)  # largest crop of the canvas aspect that fits
        s = fit * rng.uniform(min_frac, 1.0)
        w, h = max(1, min(W, round(width * s))), max(1, min(H, round(height * s)))
        return [int(rng.integers(0, W - w + 1)), int(rng.integers(0, H - h + 1)), w, h]

    def crop(self, name: str, box: list[int], width: int, height: int) -> np.ndarray:
        """The crop resized to the canvas (a fresh array; the last one is memoised)."""
        key = (name, tuple(box), width, height)
        if self._last_crop is None or self._last_crop[0] != key:
            x, y, w, h = box
            src = self.load(name)[y:y + h, x:x + w]
            # Bilinear is enough: photos are pre-scaled so a crop shrinks at most ~2x.
            self._last_crop = (key, cv2.resize(src, (width, height), interpolation=cv2.INTER_LINEAR))
        return self._last_crop[1].copy()
