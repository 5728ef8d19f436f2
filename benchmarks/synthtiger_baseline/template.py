"""SynthTIGER template for the textsynth "standard spec" benchmark job.

Runs inside the separate SynthTIGER venv (see setup.sh); it only *uses* the
synthtiger API (Template, BaseFont, BaseCorpus, BaseTexture, RGB, Layer,
TextLayer, Group) and contains no code copied from synthtiger.

Standard spec, per sample:
  * 256x256 RGB; background = random square crop of a background photo,
    resized to 256x256 (BaseTexture sample/data + utils.resize_image -> Layer);
  * 2-8 text lines; each line is English or Chinese (50/50), text sampled from
    that language's corpus (BaseCorpus), font size uniform over 5-20 px per
    line, font chosen per line among the fonts of that language that cover
    every character of the line (BaseFont with in-memory cmap charsets);
  * text colour (RGB component) contrasting with the background under the line;
  * no blur / noise / other effects;
  * lines stacked top to bottom without overlap, random gaps and x offsets;
  * save(): encode PNG (compress_level=1) or JPEG (quality 95) into memory,
    labels (text + line boxes) kept as JSON-able dicts in memory.

Config keys (dict passed to the constructor, synthtiger style):
  fonts_en, fonts_zh, backgrounds : directories
  corpus_en, corpus_zh            : UTF-8 text files, one line per entry
  format                          : "png" | "jpg"
  size (256), min_lines (2), max_lines (8), font_size ([5, 20]),
  zh_prob (0.5), min_contrast (96, on 0-255 luma), margin (4)
"""

import io
import json
import os
from functools import lru_cache

import numpy as np
from PIL import Image

from synthtiger import components, layers, templates, utils

FONT_EXTS = (".ttf", ".otf", ".ttc")
BG_EXTS = (".jpg", ".jpeg", ".png", ".bmp")


@lru_cache(maxsize=None)
def _font_charset(path):
    """Characters covered by the font's best Unicode cmap (face 0 for .ttc).

    This replaces synthtiger's offline `<font>.txt` charset files (its
    extract_font_charset tool) so that font directories can stay read-only.
    """
    from fontTools.ttLib import TTCollection, TTFont

    if path.lower().endswith(".ttc"):
        font = TTCollection(path, lazy=True).fonts[0]
    else:
        font = TTFont(path, lazy=True, fontNumber=0)
    cmap = font.getBestCmap() or {}
    return [chr(cp) for cp in cmap.keys()]


class CmapFont(components.BaseFont):
    """synthtiger BaseFont whose coverage tables come from the fonts' cmaps
    (instead of sidecar .txt files) and which also accepts .ttc collections."""

    def _update_paths(self):
        self._paths = []
        self._counts = []
        for path in self.paths:
            if not os.path.exists(path):
                continue
            if os.path.isdir(path):
                found = utils.search_files(path, exts=list(FONT_EXTS))
            else:
                found = [path]
            self._paths.append(sorted(found))
            self._counts.append(len(found))

    def _read_glyphs(self, path):
        return _font_charset(path)


class StandardSpec(templates.Template):
    def __init__(self, config=None):
        super().__init__(config)
        config = dict(config or {})
        self.size = int(config.get("size", 256))
        self.min_lines = int(config.get("min_lines", 2))
        self.max_lines = int(config.get("max_lines", 8))
        self.font_size = tuple(config.get("font_size", (5, 20)))
        self.zh_prob = float(config.get("zh_prob", 0.5))
        self.min_contrast = float(config.get("min_contrast", 96))
        self.margin = int(config.get("margin", 4))
        self.format = config.get("format", "png")
        if self.format not in ("png", "jpg"):
            raise ValueError(f"format must be png or jpg, not {self.format!r}")

        self.langs = {}
        for lang in ("en", "zh"):
            font = CmapFont(
                paths=[config[f"fonts_{lang}"]], weights=[1], size=self.font_size
            )
            if not font._counts or font._counts[0] == 0:
                raise RuntimeError(f"no fonts in {config[f'fonts_{lang}']}")
            corpus = components.BaseCorpus(
                paths=[config[f"corpus_{lang}"]], weights=[1], min_length=1
            )
            if corpus._counts[0] == 0:
                raise RuntimeError(f"empty corpus {config[f'corpus_{lang}']}")
            # rough advance width per character, in em, to pre-truncate lines
            self.langs[lang] = (font, corpus, 0.45 if lang == "en" else 1.0)

        self.texture = components.BaseTexture(
            paths=[config["backgrounds"]], weights=[1]
        )
        if not self.texture._counts or self.texture._counts[0] == 0:
            raise RuntimeError(f"no backgrounds in {config['backgrounds']}")
        self.color = components.RGB()

        self.out = []  # in-memory "dataset": (encoded bytes, labels json)
        self.bytes = 0

    # ------------------------------------------------------------------ generate
    def generate(self):
        size = self.size
        bg_layer = self._background()
        bg = bg_layer.image  # float32 RGBA, (size, size, 4)

        n = np.random.randint(self.min_lines, self.max_lines + 1)
        avail = size - 2 * self.margin
        text_layers, labels = [], []
        for _ in range(n):
            lang = "zh" if np.random.rand() < self.zh_prob else "en"
            layer, meta = self._text_line(lang, avail)
            text_layers.append(layer)
            labels.append(meta)

        # vertical layout: top to bottom, random gaps, no overlap
        heights = [layer.height for layer in text_layers]
        free = max(size - 2 * self.margin - sum(heights), 0)
        cuts = np.sort(np.random.uniform(0, free, len(text_layers)))
        y = float(self.margin)
        prev = 0.0
        for layer, cut in zip(text_layers, cuts):
            y += cut - prev
            prev = cut
            x = np.random.uniform(self.margin, max(size - self.margin - layer.width, self.margin))
            layer.topleft = (np.floor(x), np.floor(y))
            y = float(np.floor(y)) + layer.height

        for layer, meta in zip(text_layers, labels):
            self._contrast_color(layer, bg)
            x, y, w, h = (float(v) for v in layer.bbox)
            meta["box"] = [x, y, w, h]

        group = layers.Group([*reversed(text_layers), bg_layer])
        image = group.output(bbox=[0, 0, size, size])
        image = np.clip(image[..., :3], 0, 255).astype(np.uint8)

        return {"image": image, "labels": labels}

    def _background(self):
        # BaseTexture picks the photo; we choose a random square crop (half to
        # full short side), BaseTexture.data() crops it, and it is resized to
        # the output size into a plain synthtiger Layer. (BaseTexture.apply()
        # would re-run sample(), which re-reads the file header/EXIF.)
        meta = self.texture.sample({"crop": False})
        w, h = meta["w"], meta["h"]
        side = max(int(np.random.uniform(0.5, 1.0) * min(w, h)), 1)
        meta.update(
            crop=True,
            w=side,
            h=side,
            x=np.random.randint(0, w - side + 1),
            y=np.random.randint(0, h - side + 1),
        )
        texture = self.texture.data(meta)
        image = utils.resize_image(texture, (self.size, self.size))
        image[..., 3] = 255
        return layers.Layer(image)

    def _text_line(self, lang, avail):
        font, corpus, em = self.langs[lang]
        for _ in range(100):
            text = corpus.data(corpus.sample()).strip()
            if not text:
                continue
            fsize = np.random.randint(self.font_size[0], self.font_size[1] + 1)
            max_chars = max(int(avail / (em * fsize)), 1)
            if len(text) > max_chars:
                start = np.random.randint(0, len(text) - max_chars + 1)
                text = text[start : start + max_chars].strip()
            if not text:
                continue
            try:
                fmeta = font.sample({"text": text, "size": fsize})
            except RuntimeError:  # no font of this language covers the text
                continue
            layer = layers.TextLayer(text, color=(255, 255, 255, 255), **fmeta)
            while layer.width > avail and len(text) > 1:
                keep = max(int(len(text) * avail / layer.width) - 1, 1)
                text = text[:keep].rstrip() or text[:1]
                layer = layers.TextLayer(text, color=(255, 255, 255, 255), **fmeta)
            if layer.width > avail:
                continue
            meta = {
                "text": text,
                "lang": lang,
                "font": os.path.basename(fmeta["path"]),
                "size": int(fsize),
            }
            return layer, meta
        raise RuntimeError(f"could not sample a renderable {lang} line")

    def _contrast_color(self, layer, bg):
        x, y, w, h = (int(v) for v in layer.bbox)
        region = bg[max(y, 0) : y + h, max(x, 0) : x + w, :3]
        bg_gray = float(utils.to_gray(region.reshape(-1, 3).mean(axis=0)))
        meta = None
        for _ in range(20):
            meta = self.color.sample()
            if abs(float(utils.to_gray(meta["rgb"])) - bg_gray) >= self.min_contrast:
                break
        else:
            meta["rgb"] = (0, 0, 0) if bg_gray >= 128 else (255, 255, 255)
        self.color.apply([layer], meta)

    # ---------------------------------------------------------------------- save
    def init_save(self, root):
        self.out = []
        self.bytes = 0
        if root is not None:
            os.makedirs(root, exist_ok=True)

    def save(self, root, data, idx):
        pil = Image.fromarray(data["image"])
        buf = io.BytesIO()
        if self.format == "png":
            pil.save(buf, format="PNG", compress_level=1)
        else:
            pil.save(buf, format="JPEG", quality=95)
        blob = buf.getvalue()
        labels = json.dumps({"key": f"{idx:06d}", "lines": data["labels"]}, ensure_ascii=False)
        self.out.append((blob, labels))
        self.bytes += len(blob)
        if root is not None:  # optional dump for visual checks (not timed by run.py)
            with open(os.path.join(root, f"{idx:06d}.{self.format}"), "wb") as fp:
                fp.write(blob)
            with open(os.path.join(root, f"{idx:06d}.json"), "w", encoding="utf-8") as fp:
                fp.write(labels)

    def end_save(self, root):
        pass
