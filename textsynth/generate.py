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

from textsynth.raster import BadFont
from textsynth.recipe import Skip, sample_recipe
from textsynth.render import render
from textsynth.resources import Resources

MAX_ATTEMPTS = 8


@dataclass
class Stats:
    samples: int = 0
    skips: Counter = field(default_factory=Counter)      # sample attempts abandoned, by reason
    events: Counter = field(default_factory=Counter)     # recoverable events (text resampled, ...)

    def merge(self, other: "Stats") -> None:
        self.samples += other.samples
        self.skips.update(other.skips)
        self.events.update(other.events)

    def as_dict(self) -> dict:
        return {"samples": self.samples, "skips": dict(sorted(self.skips.items())),
                "events": dict(sorted(self.events.items()))}


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
        stats.samples += 1
        return img, meta
    raise Skip("max_attempts")
