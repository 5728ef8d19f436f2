"""The engine in-process, without Ray: samples by index, and a PyTorch dataset over them.

``Renderer(cfg).render(i)`` is sample ``i`` of a job run with that config: the same pixels
and metadata a ``textsynth synth`` job with the same config and seed stores for global index
``i`` (shard ``i // samples_per_shard``). A sample that can't be made (every attempt hit a
bad input) is ``None``; the reasons are counted in ``renderer.stats``.

    import textsynth
    r = textsynth.Renderer(textsynth.load_config(None, seed=7))
    s = r.render(0)               # Sample(index=0, image=HxWx3 uint8, meta={...})
    for s in r.iter_samples(0, 100):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.recipe import Skip


@dataclass
class Sample:
    """One rendered sample: its index, pixels and metadata (what a shard stores for it)."""

    index: int          # global sample index in the job
    image: np.ndarray   # (H, W, 3) uint8 RGB
    meta: dict          # the sample contract's metadata (text, lines, recipe, ...)


class Renderer:
    """Samples of one synthesis config. ``config``: a dict from :func:`textsynth.load_config`,
    a YAML path, or None for the bundled English/Chinese config."""

    def __init__(self, config: dict | str | Path | None = None):
        from textsynth.config import load_config
        from textsynth.synthesis.resources import Resources

        self.cfg = config if isinstance(config, dict) else load_config(config)
        self.resources = Resources(self.cfg)  # fonts, corpora, photos: loaded once
        self.stats = Stats()

    def render(self, index: int) -> Sample | None:
        try:
            img, meta = make_sample(self.resources, self.cfg["seed"], index, self.stats)
        except Skip:
            return None
        return Sample(index, img, meta)

    def iter_samples(self, start: int = 0, stop: int | None = None, step: int = 1) -> Iterator[Sample]:
        """Samples ``start, start + step, ...`` up to ``stop`` (endless when None), skipping
        those that can't be made."""
        index = start
        while stop is None or index < stop:
            sample = self.render(index)
            if sample is not None:
                yield sample
            index += step


def torch_dataset(config: dict | str | Path | None = None, num_samples: int | None = None):
    """A ``torch.utils.data.IterableDataset`` of rendered samples, split across DataLoader
    workers (worker ``w`` of ``n`` renders indices ``w, w + n, ...``), each worker loading
    its own fonts and photos. Items: ``{"image": uint8 tensor (3, H, W), "text": str,
    "index": int, "meta": dict}`` (use ``collate_fn=list`` or drop ``meta`` to batch).
    ``num_samples`` None streams forever."""
    from textsynth.extras import require

    torch = require("torch", "the PyTorch dataset")

    class RenderedSamples(torch.utils.data.IterableDataset):
        def __init__(self):
            super().__init__()
            self.config, self.num_samples = config, num_samples

        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            worker, workers = (info.id, info.num_workers) if info else (0, 1)
            renderer = Renderer(self.config)
            for s in renderer.iter_samples(worker, self.num_samples, workers):
                yield {"image": torch.from_numpy(s.image).permute(2, 0, 1).contiguous(),
                       "text": s.meta["text"], "index": s.index, "meta": s.meta}

    return RenderedSamples()
