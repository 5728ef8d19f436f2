"""Human review of a bench (report §5.2, stage 4): decisions made in the gallery, applied by
`textsynth bench prune`."""

from __future__ import annotations

import hashlib
from pathlib import Path


def bench_id(bench_dir: str | Path) -> str:
    """A bench's identity: sha256 over its sorted "key:sha256(image bytes)" lines, 16 hex."""
    from textsynth.evaluation.run import read_bench

    lines = sorted(f"{key}:{sha}" for key, _img, _meta, sha in read_bench(bench_dir))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
