"""textsynth: a synthetic text-rendering data engine for text-preserving VAEs.

The Python API (imported lazily, so ``import textsynth`` stays cheap):

- :func:`load_config` — a synthesis config: defaults, a YAML file, overrides; checked.
- :class:`Renderer` — samples by index in-process (``render(i)``, ``iter_samples(...)``).
- :func:`torch_dataset` — a PyTorch ``IterableDataset`` over the engine, split across
  DataLoader workers.
- :func:`textsynth.synth.run` and :func:`textsynth.curation.job.run` — the sharded Ray
  jobs, with the CLI's arguments.
"""

__version__ = "0.1.0"

_API = {"load_config": "textsynth.config", "Renderer": "textsynth.synthesis.renderer",
        "Sample": "textsynth.synthesis.renderer", "torch_dataset": "textsynth.synthesis.renderer"}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'textsynth' has no attribute {name!r}")
