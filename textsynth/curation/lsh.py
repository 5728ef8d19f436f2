"""Candidate pairs for near-duplicate search, so that dedup need not compare every pair.

Two banded indexes, both only *proposing* pairs (``dedup.near_duplicates`` confirms each one
with the exact similarity, so a false candidate costs time, never a wrong drop):

- Text: MinHash signatures of the n-gram sets (datasketch), cut into ``b`` bands of ``r``
  values; two sets that agree on at least ``m`` whole bands are candidates. Each band agrees
  with probability p = J**r (J the pair's Jaccard index), so a pair is missed with
  probability ``P(Binomial(b, p) < m)``; ``band_params`` sizes b so that this is at most
  ``MISS`` at the threshold itself (less above it). Asking for m = 3 bands rather than one
  costs ~40% more bands but cuts the candidates among unrelated crops (J ~ 0.01, sharing
  common n-grams like "ofthe") about a hundredfold.
- Perceptual hashes: multi-index hashing. Cut the 64 bits into ``d + 1`` bands; two hashes
  within Hamming distance ``d`` differ in at most d bands, so they agree on at least one
  (pigeonhole): this index misses nothing.

Buckets are found by sorting each band's keys (numpy), not with ``datasketch.MinHashLSH``,
whose dict of Python objects per band and set took 1.2 GB and 12 s to insert 2*10^4 sets at
0.3's 204 bands (~6 GB at 10^5). Only buckets shared by two or more sets can pair; each keeps
the list of its *kept* members, which the greedy dedup fills in rank order.
"""

from __future__ import annotations

import gc
import math
import zlib
from collections import Counter
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from textsynth.extras import require

MISS = 1e-6         # chance of missing a pair whose Jaccard index is exactly the threshold
MAX_PERM = 1024     # signature length budget (cost is n-grams x permutations per set)
SHAPES = ((2, 3), (1, 1))  # (rows <= 2, bands to share), the first that fits MAX_PERM
SEED = 1


def miss_probability(threshold: float, bands: int, rows: int, shared: int) -> float:
    """P(fewer than ``shared`` of ``bands`` bands agree) for a pair at the threshold."""
    p = threshold ** rows
    return sum(math.comb(bands, k) * p ** k * (1 - p) ** (bands - k) for k in range(shared))


def band_params(threshold: float) -> tuple[int, int, int] | None:
    """(bands, rows, shared) with a miss rate at most MISS, or None when the threshold is too
    low for MAX_PERM (then every pair sharing an n-gram is a candidate: exact, but slow)."""
    if threshold <= 0:
        return None
    for r, m in SHAPES:
        b = m
        while b * r <= MAX_PERM:
            if miss_probability(threshold, b, r, m) <= MISS:
                return b, r, m
            b += 1
    return None


def _hash32(gram: str) -> int:
    # Deterministic across processes (str.__hash__ is salted); datasketch pre-mixes it.
    return zlib.crc32(gram.encode())


@lru_cache(maxsize=8)
def _permutations(num_perm: int) -> np.ndarray:
    return _minhash()(num_perm=num_perm, seed=SEED, scheme="affine32").permutations


def _minhash():
    return require("datasketch", "near-duplicate search (MinHash)").MinHash


def signatures(gram_sets: list[frozenset], num_perm: int) -> np.ndarray:
    """(len(gram_sets), num_perm) uint32 MinHash values; empty sets get all-max rows."""
    MinHash, perms = _minhash(), _permutations(num_perm)
    sig = np.empty((len(gram_sets), num_perm), dtype=np.uint32)
    for i, grams in enumerate(gram_sets):
        m = MinHash(num_perm=num_perm, scheme="affine32", hashfunc=_hash32, permutations=perms)
        m.update_batch(grams)
        sig[i] = m.hashvalues
    return sig


class Buckets:
    """Sets sharing a key in some band. ``add(j)`` marks set j kept; ``found(j)``: the kept
    sets sharing a bucket with set j, once per shared bucket; ``candidates(j)``: those sharing
    at least ``shared`` buckets, ascending. Indexes are ranks (the caller visits sets in rank
    order). Run under ``gc_paused``: the index is millions of small lists."""

    def __init__(self, n: int, bands: list[tuple[np.ndarray, np.ndarray]], shared: int = 1):
        self.shared = shared
        docs, buckets, next_id = [], [], 0
        for chunk in _chunks(bands):  # several bands per sort: page groups are tiny
            ids = np.concatenate([i for i, _ in chunk])
            # a bijection per band, so that equal keys of different bands stay apart (but
            # for 2^-64 coincidences, which only add a candidate)
            keys = np.concatenate([k ^ np.uint64(_mix(band)) for band, (_, k) in enumerate(chunk)])
            order = np.argsort(keys, kind="stable")
            k, d = keys[order], ids[order]
            first = np.ones(len(k), dtype=bool)
            first[1:] = k[1:] != k[:-1]
            run = np.cumsum(first) - 1  # bucket of each sorted entry
            size = np.bincount(run)
            multi = size[run] >= 2  # singletons can never pair
            dense = np.cumsum(size >= 2) - 1
            docs.append(d[multi])
            buckets.append(dense[run[multi]] + next_id)
            next_id += int(dense[-1]) + 1 if len(dense) else 0
        docs = np.concatenate(docs + [np.empty(0, np.int64)])
        buckets = np.concatenate(buckets + [np.empty(0, np.int64)])
        order = np.argsort(docs, kind="stable")
        self._bucket_of = buckets[order].tolist()
        self._ptr = np.searchsorted(docs[order], np.arange(n + 1)).tolist()
        self._kept: list[list[int] | None] = [None] * next_id  # filled in by add()

    def found(self, j: int) -> list[int]:
        out: list[int] = []
        for b in self._bucket_of[self._ptr[j]:self._ptr[j + 1]]:
            if (x := self._kept[b]) is not None:
                out += x
        return out

    def candidates(self, j: int) -> list[int]:
        if self.shared == 1:
            return sorted(set(self.found(j)))
        return sorted(i for i, c in Counter(self.found(j)).items() if c >= self.shared)

    def add(self, j: int) -> None:
        for b in self._bucket_of[self._ptr[j]:self._ptr[j + 1]]:
            if (x := self._kept[b]) is None:
                self._kept[b] = [j]
            else:
                x.append(j)


def _chunks(bands: list, size: int = 1 << 21):
    """Consecutive bands, about ``size`` keys at a time."""
    chunk, n = [], 0
    for band in bands:
        chunk.append(band)
        n += len(band[1])
        if n >= size:
            yield chunk
            chunk, n = [], 0
    if chunk:
        yield chunk


def _mix(band: int) -> int:
    return (band * 0x9E3779B97F4A7C15 + 1) & (1 << 64) - 1


@contextmanager
def gc_paused():
    """Without cyclic GC: building millions of small lists would set off full collections,
    each walking every n-gram set of the group (half the dedup time at 10^5 crops). The
    index makes no reference cycles, so nothing is left for the collector."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def text_buckets(gram_sets: list[frozenset], threshold: float) -> Buckets:
    """Candidates for n-gram overlap above ``threshold``; empty sets (overlap 0) are left out."""
    ids = np.array([i for i, g in enumerate(gram_sets) if g], dtype=np.int64)
    params = band_params(threshold)
    if params is None:  # every n-gram is a band: sharing any makes a candidate (exact)
        grams = [(i, g) for i in ids.tolist() for g in gram_sets[i]]
        keys = np.array([_hash32(g) for _, g in grams], dtype=np.uint64)
        return Buckets(len(gram_sets), [(np.array([i for i, _ in grams], dtype=np.int64), keys)])
    b, r, m = params
    sig = signatures([gram_sets[i] for i in ids.tolist()], b * r)
    bands = []
    for band in range(b):  # the key is the band itself (r <= 2 values of 32 bits)
        cols = sig[:, band * r:(band + 1) * r].astype(np.uint64)
        bands.append((ids, cols[:, 0] << np.uint64(32) | cols[:, 1] if r == 2 else cols[:, 0]))
    return Buckets(len(gram_sets), bands, shared=m)


def phash_buckets(hashes: list[int | None], max_distance: int) -> Buckets:
    """Candidates for perceptual hashes within ``max_distance`` bits (all of them)."""
    ids = np.array([i for i, h in enumerate(hashes) if h is not None], dtype=np.int64)
    values = np.array([hashes[i] for i in ids.tolist()], dtype=np.uint64)
    n_bands = max_distance + 1
    if n_bands > 64:  # every pair is within 64 bits
        return Buckets(len(hashes), [(ids, np.zeros(len(ids), dtype=np.uint64))])
    edges = [round(64 * k / n_bands) for k in range(n_bands + 1)]
    bands = [(ids, (values >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1))
             for lo, hi in zip(edges, edges[1:])]
    return Buckets(len(hashes), bands)
