"""Deterministic sample generation: (config, seed, index) -> sample, with counted skips.

Sample ``i`` of a job draws from ``numpy.random.default_rng([seed, i, attempt])``: it does
not depend on any other sample, so shards can be made in any order, on any worker, and
re-made identically. A sample that can't be made is retried with the next attempt number
and the reason is counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from textsynth.synthesis.raster import BadFont
from textsynth.synthesis.text import count_chars
from textsynth.synthesis.recipe import Skip, sample_recipe
from textsynth.synthesis.render import render
from textsynth.synthesis.resources import Resources

MAX_ATTEMPTS = 8


@dataclass
class Stats:
    samples: int = 0
    skips: Counter = field(default_factory=Counter)      # sample attempts abandoned, by reason
    events: Counter = field(default_factory=Counter)     # recoverable events (text resampled, ...)
    templates: Counter = field(default_factory=Counter)  # samples per layout template
    chars: int = 0                                       # non-space characters, all samples
    ink: float = 0.0                                     # sum of the samples' ink fractions

    def merge(self, other: "Stats") -> None:
        self.samples += other.samples
        self.skips.update(other.skips)
        self.events.update(other.events)
        self.templates.update(other.templates)
        self.chars += other.chars
        self.ink += other.ink

    def add(self, meta: dict) -> None:
        self.samples += 1
        self.templates[meta.get("template", "blocks")] += 1
        self.chars += count_chars(meta["text"])
        self.ink += meta["scores"].get("ink_frac", 0.0)

    def as_dict(self) -> dict:
        n = max(1, self.samples)
        return {"samples": self.samples, "skips": dict(sorted(self.skips.items())),
                "events": dict(sorted(self.events.items())),
                "templates": dict(sorted(self.templates.items())),
                "chars": self.chars, "mean_chars_per_sample": round(self.chars / n, 1),
                "ink": round(self.ink, 4), "mean_ink_frac": round(self.ink / n, 4)}

    @classmethod
    def from_dict(cls, d: dict) -> "Stats":
        return cls(d["samples"], Counter(d["skips"]), Counter(d["events"]),
                   Counter(d.get("templates", {})), d.get("chars", 0), d.get("ink", 0.0))


def top_reasons(counts: dict, n: int = 3) -> str:
    """``"reason x12, other x3"``: the most frequent skip or reject reasons, for messages."""
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{k} x{v}" for k, v in top) or "none recorded"


def make_sample(res: Resources, seed: int, index: int, stats: Stats) -> tuple[np.ndarray, dict]:
    """Render sample ``index`` of a job; raises Skip if every attempt fails."""
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, index, attempt])
        events: dict = {}
        try:
            recipe = sample_recipe(res, rng, events)
            recipe["seed"] = [seed, index, attempt]
            img, meta = render(res, recipe, char_boxes=res.cfg["output"]["char_boxes"])
        except Skip as e:
            stats.skips[e.reason] += 1
            continue
        except BadFont as e:   # corrupt glyph data: a per-face skip, named in stats.json
            stats.skips[f"bad_font:{e.font}"] += 1
            continue
        finally:
            stats.events.update(events)
        stats.add(meta)
        return img, meta
    raise Skip("max_attempts")
