"""Background photos: discovery, safe decoding, random crops resized to the canvas.

Sources (``background.dirs``): folders of images, folders of webdataset ``.tar`` shards, and
shard paths or URIs on any pyarrow filesystem (``s3://bucket/bg/{000000..000999}.tar``;
brace ranges and alternatives expand). A draw picks one unit uniformly — an image file, or a
shard and then one of its image members — so a photo in a shard is named ``SHARD#MEMBER``
in the recipe. A shard's member list is read on its first draw in a process (tar headers
only; a seekable read per member after that), so a worker touches only the shards it draws
from; which member a draw names depends only on the shard's content, never on what the
process met before (resume stays byte-identical). An unreadable shard or member is a
counted skip with its reason, and so is a member the shared tar rules of
:mod:`textsynth.shardio` refuse to read (sparse, or over ``background.max_member_mb``).

Photos are decoded once per process and kept in a small LRU (by bytes,
``background.cache_mb``). Large photos are downscaled on load to ``max_side`` (by default
twice the canvas's longer side, so a crop is never shrunk more than ~2x when resized and the
resize stays cheap); the recipe records ``max_side`` so a crop box always means the same
pixels.
"""

from __future__ import annotations

import io
import tarfile
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from textsynth import paths
from textsynth.shardio import (MAX_MEMBER_BYTES, Refused, member_refusal, open_input, public_uri, regular_members,
                               shard_uris)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


class BadImage(ValueError):
    """An image that cannot be used; ``reason`` is a short machine-friendly tag."""

    def __init__(self, name: str, reason: str, detail: str = ""):
        super().__init__(f"background {name}: {reason}" + (f" ({detail})" if detail else ""))
        self.name, self.reason = name, reason


def decode_image(path: Path | bytes, max_pixels: int, name: str | None = None) -> np.ndarray:
    """Decode a file (or its bytes) to RGB uint8, refusing decompression bombs and
    truncated files."""
    name = name or str(path)
    try:
        with Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as im:
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


Where = tuple[int, int, Refused | None]   # a member's data offset and size, or why it is not read


class ShardMembers:
    """The image members of webdataset tars, listed lazily, read by seeking."""

    def __init__(self, max_listed: int = 256, max_member_bytes: int = MAX_MEMBER_BYTES):
        # shard -> (image member names in order, {name: Where})
        self._lists: OrderedDict[str, tuple[list[str], dict[str, Where]]] = OrderedDict()
        self.max_listed, self.max_member_bytes = max_listed, max_member_bytes

    _open = staticmethod(open_input)

    def members(self, shard: str) -> tuple[list[str], dict[str, Where]]:
        """The shard's image member names (sorted; refused ones too, so that a draw depends on
        the tar alone) and where each one's data lies."""
        got = self._lists.get(shard)
        if got is None:
            try:
                with self._open(shard) as f, tarfile.open(fileobj=f, mode="r:") as tar:
                    where = {m.name: (m.offset_data, m.size, member_refusal(m, self.max_member_bytes))
                             for m in regular_members(tar) if Path(m.name).suffix.lower() in IMAGE_SUFFIXES}
                got = (sorted(where), where)
            except (OSError, tarfile.TarError, EOFError) as e:
                raise BadImage(shard, "unreadable_shard", f"{type(e).__name__}: {e}") from None
            if not where:
                raise BadImage(shard, "shard_without_images")
            self._lists[shard] = got
            while len(self._lists) > self.max_listed:
                self._lists.popitem(last=False)
        else:
            self._lists.move_to_end(shard)
        return got

    def read(self, shard: str, member: str) -> bytes:
        where = self.members(shard)[1].get(member)
        if where is None:
            raise BadImage(f"{shard}#{member}", "missing", "no such member")
        offset, size, refused = where
        if refused:
            limit = " (background.max_member_mb)" if refused.reason == "member_too_large" else ""
            raise BadImage(f"{shard}#{member}", refused.reason, refused.detail + limit)
        with self._open(shard) as f:
            f.seek(offset)
            return f.read(size)


class Backgrounds:
    """The photos of some sources (see the module doc), by name: an image file's path
    relative to its folder, or ``SHARD#MEMBER``."""

    def __init__(self, dirs: list[str | Path] | None = None, max_side: int = 512,
                 max_pixels: int = 40_000_000, cache_bytes: int = 32 << 20,
                 max_member_bytes: int = MAX_MEMBER_BYTES):
        self.max_side = max_side
        sources = [str(d) for d in (dirs or [paths.backgrounds_dir()])]
        self.files: dict[str, Path] = {}
        self.shards: list[str] = []
        # A shard's name in recipes is its URI without credentials a user may have put in it
        # (samples record it); this maps the name back to the URI that opens it.
        self._uri: dict[str, str] = {}
        for src in sources:
            if "://" in src or "{" in src or src.endswith(".tar"):
                for uri in shard_uris(src):
                    self._uri[public_uri(uri)] = uri
                    self.shards.append(public_uri(uri))
                continue
            d = Path(src)
            for p in sorted(d.rglob("*")):
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
                    self.files.setdefault(p.relative_to(d).as_posix(), p)
                elif p.suffix == ".tar" and p.is_file():
                    self.shards.append(str(p.resolve()))
                    self._uri[self.shards[-1]] = self.shards[-1]
        if not self.files and not self.shards:
            raise ValueError(f"no background images or .tar shards under {', '.join(sources)}; "
                             "run `textsynth assets fetch` or set background.dirs")
        self.names = sorted(self.files)
        self.shards = sorted(set(self.shards))
        self.members = ShardMembers(max_member_bytes=max_member_bytes)
        self.bad: dict[str, str] = {}  # name -> reason: a draw that names it is a counted skip
        self.max_pixels, self.cache_bytes = max_pixels, cache_bytes
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._last_crop: tuple | None = None

    def draw(self, rng: np.random.Generator) -> str:
        """A photo's name: one unit (an image file or a shard) uniformly, then for a shard
        one of its image members uniformly. Raises BadImage for an unreadable shard."""
        u = int(rng.integers(len(self.names) + len(self.shards)))
        if u < len(self.names):
            return self.names[u]
        shard = self.shards[u - len(self.names)]
        if shard in self.bad:
            raise BadImage(shard, self.bad[shard])
        try:
            names, _ = self.members.members(self._uri[shard])
        except BadImage as e:
            self.bad[shard] = e.reason
            raise
        return f"{shard}#{names[int(rng.integers(len(names)))]}"

    def _decode(self, name: str) -> np.ndarray:
        if name in self.files:
            return decode_image(self.files[name], self.max_pixels)
        shard, sep, member = name.rpartition("#")
        if not sep or shard not in self.shards:
            raise BadImage(name, "missing", "not in background.dirs")
        return decode_image(self.members.read(self._uri[shard], member), self.max_pixels, name)

    def load(self, name: str) -> np.ndarray:
        img = self._cache.get(name)
        if img is not None:
            self._cache.move_to_end(name)
            return img
        try:
            img = self._decode(name)
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
