"""Everything a renderer needs loaded once per process: fonts, corpora, backgrounds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from textsynth import paths
from textsynth.config import background_modes, canvas_sizes, lang_weights
from textsynth.synthesis.backgrounds import Backgrounds
from textsynth.synthesis.fonts import FontRegistry
from textsynth.synthesis.raster import FaceRaster
from textsynth.synthesis.text import Corpus


def corpus_files(cfg: dict, lang: str) -> list[Path]:
    files = cfg["text"]["corpora"].get(lang)
    if files:
        return [Path(f) for f in files]
    return sorted(paths.corpora_dir().glob(f"{lang}-*.txt"))


# Characters a face must draw for a language to be renderable at all.
SCRIPT_SAMPLES = {"en": "Aa", "zh": "国的", "mixed": "国A"}


class Resources:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.fonts = FontRegistry.from_dirs(cfg["fonts"]["dirs"] or None, cfg["fonts"]["exclude"])
        key, probs = lang_weights(cfg)   # per sample or per block: the weights drawn from
        for lang, sample in SCRIPT_SAMPLES.items():   # a language asked for must be drawable
            weight = probs.get(lang, 0)
            if weight > 0 and not self.fonts.covering(sample):
                raise ValueError(f"{key}.{lang} is {weight} but no font in "
                                 f"{cfg['fonts']['dirs'] or 'the asset cache'} draws {sample!r}; "
                                 f"add a font that does or set the weight to 0")
        langs = {"zh", "en"} if "mixed" in probs else set()
        langs |= {k for k, p in probs.items() if p > 0 and k != "mixed"}
        self.corpora = {lang: Corpus(lang, corpus_files(cfg, lang)) for lang in sorted(langs)}
        self.notes = [n for c in self.corpora.values() for n in c.notes]  # warnings for the user
        # corpus lines left out, by reason (stats.json ``corpus_skips``)
        self.corpus_skips = dict(sorted(sum((c.skips for c in self.corpora.values()), Counter()).items()))
        largest = max(max(size) for size in canvas_sizes(cfg))
        self.backgrounds = (Backgrounds(cfg["background"]["dirs"] or None, 2 * largest,
                                        cfg["background"]["max_image_pixels"],
                                        int(cfg["background"]["cache_mb"] * 2 ** 20),
                                        int(cfg["background"]["max_member_mb"] * 2 ** 20))
                            if {"photo", "scene"} & set(background_modes(cfg)) else None)
        self._rasters: dict[str, FaceRaster] = {}

    def raster(self, font_name: str) -> FaceRaster:
        r = self._rasters.get(font_name)
        if r is None:
            r = self._rasters[font_name] = FaceRaster(self.fonts[font_name])
        return r
