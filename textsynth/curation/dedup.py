"""Duplicate detection: exact content hash, character n-gram overlap, perceptual hash.

Near-duplicates follow the report (§5): character n-grams of the OCR text (n = 3 for
Chinese, 5 for English; in mixed text, per script), overlap above 0.2 within a page or 0.3 within a category makes two
crops duplicates, and of each group the crop with the most characters is kept. Overlap is
the Jaccard index ``|A ∩ B| / |A ∪ B|`` of the n-gram sets. (Containment, ``/ min(|A|,
|B|)``, was tried: on real FAQ pages it called unrelated crops duplicates because they
shared a LaTeX snippet or a title, e.g. 36 of 109 n-grams.) Visual duplicates (the same page in two files at
different quality) are caught by a 64-bit DCT perceptual hash within a Hamming distance.
At category scale (10^5 crops) the pairs to compare come from MinHash-LSH and multi-index
hashing (``lsh``), each confirmed with the exact measure.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from textsynth.curation import lsh
from textsynth.synthesis.scripts import HAN_RE


def content_hash(img: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(img).tobytes() + str(img.shape).encode()).hexdigest()[:32]


def ngrams(text: str, n_han: int = 3, n_other: int = 5) -> frozenset[str]:
    """Character n-grams of the text, whitespace removed (OCR spacing is unreliable): n_han
    over the Han characters in order, n_other over everything else, so Latin words inside
    Chinese text are compared as English (short Latin trigrams like "ion" are everywhere)."""
    s = "".join(text.split())
    han = "".join(HAN_RE.findall(s))  # one regex pass, not one per character (10^5 crops)
    other = HAN_RE.sub("", s)
    grams = set()
    for seq, n in ((han, n_han), (other, n_other)):
        if len(seq) >= n:
            grams.update(seq[i:i + n] for i in range(len(seq) - n + 1))
        elif seq:
            grams.add(seq)
    return frozenset(grams)


def overlap(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def phash(img: np.ndarray) -> int:
    """64-bit perceptual hash: signs of the 8x8 lowest DCT frequencies of a 32x32 grey image
    against their median."""
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    small = cv2.resize(g, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


@dataclass
class Candidate:
    key: str
    group: str          # the page (for the page threshold) or the category
    chars: int
    grams: frozenset
    phash: int | None = None
    chash: str | None = None


def _groups(cands: list[Candidate]) -> list[list[Candidate]]:
    """Candidates by group, each in greedy order: most characters first, key breaks ties."""
    groups: dict[str, list[Candidate]] = defaultdict(list)
    for c in cands:
        groups[c.group].append(c)
    return [sorted(m, key=lambda c: (-c.chars, c.key)) for _, m in sorted(groups.items())]


def near_duplicates(cands: list[Candidate], threshold: float,
                    phash_max_distance: int = -1) -> dict[str, tuple[str, str]]:
    """Within each group, greedily keep candidates by character count (most first; key breaks
    ties) and drop any whose n-gram overlap with a kept one exceeds ``threshold`` or whose
    perceptual hash is within ``phash_max_distance`` bits. Returns {dropped key: (reason,
    key it duplicates)}, naming the earliest kept match. Banded indexes (``lsh``) propose the
    pairs to compare; each is confirmed with the exact measure, so the result is that of
    ``near_duplicates_exact`` unless MinHash-LSH misses every kept match of a crop (odds
    ~1e-6 per pair at the threshold; see lsh.band_params)."""
    dropped: dict[str, tuple[str, str]] = {}
    for members in _groups(cands):
        with lsh.gc_paused():
            _near_in_group(members, threshold, phash_max_distance, dropped)
    return dropped


def _near_in_group(members: list[Candidate], threshold: float, phash_max_distance: int,
                   dropped: dict[str, tuple[str, str]]) -> None:
    text = lsh.text_buckets([c.grams for c in members], threshold)
    image = lsh.phash_buckets([c.phash for c in members], phash_max_distance) \
        if phash_max_distance >= 0 else None
    hashes = np.array([c.phash or 0 for c in members], dtype=np.uint64)
    for j, c in enumerate(members):
        hit = next((("dup_ngram", members[i].key) for i in text.candidates(j)
                    if overlap(c.grams, members[i].grams) > threshold), None)
        if not hit and image and c.phash is not None and (near := image.found(j)):
            # hundreds of candidates when layouts look alike: count the bits in numpy
            near = np.array(near)
            bits = np.unpackbits((hashes[near] ^ hashes[j]).view(np.uint8)).reshape(-1, 64).sum(1)
            if (close := near[bits <= phash_max_distance]).size:
                hit = ("dup_phash", members[int(close.min())].key)
        if hit:
            dropped[c.key] = hit
            continue
        text.add(j)
        if image:
            image.add(j)


def near_duplicates_exact(cands: list[Candidate], threshold: float,
                          phash_max_distance: int = -1) -> dict[str, tuple[str, str]]:
    """The reference for ``near_duplicates`` (the tests and benchmarks/dedup.py compare the
    two): the same greedy with every kept candidate as a possible match, found through an
    inverted n-gram index (quadratic once common n-grams are shared by most crops) and a
    scan of all kept perceptual hashes (quadratic)."""
    dropped: dict[str, tuple[str, str]] = {}
    groups: dict[str, list[Candidate]] = defaultdict(list)
    for c in cands:
        groups[c.group].append(c)
    for members in groups.values():
        members.sort(key=lambda c: (-c.chars, c.key))
        index: dict[str, list[Candidate]] = defaultdict(list)
        kept: list[Candidate] = []
        for c in members:
            seen: set[str] = set()
            hit = None
            for g in c.grams:
                for k in index.get(g, ()):
                    if k.key not in seen:
                        seen.add(k.key)
                        if overlap(c.grams, k.grams) > threshold:
                            hit = ("dup_ngram", k.key)
                            break
                if hit:
                    break
            if not hit and phash_max_distance >= 0 and c.phash is not None:
                hit = next((("dup_phash", k.key) for k in kept if k.phash is not None
                            and hamming(c.phash, k.phash) <= phash_max_distance), None)
            if hit:
                dropped[c.key] = hit
                continue
            kept.append(c)
            for g in c.grams:
                index[g].append(c)
    return dropped


def exact_duplicates(cands: list[Candidate]) -> dict[str, tuple[str, str]]:
    """Identical pixels anywhere: keep the first by key."""
    first: dict[str, str] = {}
    dropped = {}
    for c in sorted(cands, key=lambda c: c.key):
        if c.chash in first:
            dropped[c.key] = ("dup_exact", first[c.chash])
        else:
            first[c.chash] = c.key
    return dropped
