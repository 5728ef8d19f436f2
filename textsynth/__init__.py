"""textsynth: a synthetic text-rendering data engine for text-preserving VAEs."""

__version__ = "0.1.0"
