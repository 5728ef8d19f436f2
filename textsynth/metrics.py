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


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio of two uint8 images, in dB (inf when identical)."""
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0 ** 2 / mse))


def ssim(a, b) -> float:
    """Structural similarity (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5,
    K1 0.01, K2 0.03, on the 0-255 range, averaged over channels."""
    import cv2
    import numpy as np

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    a = a.astype(np.float64).reshape(a.shape[0], a.shape[1], -1)
    b = b.astype(np.float64).reshape(b.shape[0], b.shape[1], -1)
    out = []
    for ch in range(a.shape[2]):
        x, y = a[:, :, ch], b[:, :, ch]
        blur = lambda im: cv2.GaussianBlur(im, (11, 11), 1.5)  # noqa: E731
        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        out.append(float(m.mean()))
    return float(np.mean(out))
