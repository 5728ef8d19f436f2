"""Returning freed memory to the OS.

Arrow's memory pool and glibc's allocator both keep freed pages for reuse. After a burst of
large, short-lived allocations (a catalog's per-shard tables, a shard's 1024x1024 canvases
and full-size photo decodes) that is hundreds of MB of resident memory holding nothing,
which on a many-worker node is real cost.
"""

from __future__ import annotations


def give_back_memory() -> None:
    """Hand freed heap pages back to the OS (a no-op where the allocator isn't glibc)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
