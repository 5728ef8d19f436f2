"""Text-fidelity metrics."""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    """Character edit distance (insert, delete, substitute; each costs 1)."""
    # Shared prefix/suffix cost nothing; OCR outputs of an image and its reconstruction
    # mostly agree, so this usually leaves little for the O(len*len) DP.
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a, b = a[start:end_a], b[start:end_b]
    if len(a) < len(b):
        a, b = b, a  # rows as long as the shorter string
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        left = i
        for j, cb in enumerate(b):
            left = min(prev[j + 1] + 1, left + 1, prev[j] + (ca != cb))
            cur.append(left)
        prev = cur
    return prev[-1]


def ned(pred: str, gt: str) -> float:
    """Normalized edit-distance similarity, one term of eq. 5 of the Qwen-Image-VAE-2.0
    report: ``1 - lev(pred, gt) / max(len(pred), len(gt))``; 1.0 is identical, and two
    empty strings count as identical. "orange" vs "orango" gives 1 - 1/6 = 0.833."""
    n = max(len(pred), len(gt))
    return 1.0 if n == 0 else 1.0 - levenshtein(pred, gt) / n
