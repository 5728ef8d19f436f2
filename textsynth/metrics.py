"""Text-fidelity metrics."""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    """Character edit distance (insert, delete, substitute; each costs 1), by RapidFuzz."""
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(a, b)


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
    """Structural similarity (Wang et al. 2004) as scikit-image computes it with
    ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255``:
    11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, mirrored borders, the mean taken
    over the pixels at least 5 px from the edge, averaged over channels. Equal to
    ``skimage.metrics.structural_similarity`` within 1e-4 (tests/test_eval.py); OpenCV's
    separable blur makes it ~10x faster."""
    import cv2
    import numpy as np

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    a = a.astype(np.float64).reshape(a.shape[0], a.shape[1], -1)
    b = b.astype(np.float64).reshape(b.shape[0], b.shape[1], -1)
    pad = 5  # (window - 1) // 2: skimage leaves out the border where the window is mirrored
    out = []
    for ch in range(a.shape[2]):
        x, y = a[:, :, ch], b[:, :, ch]
        blur = lambda im: cv2.GaussianBlur(im, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731
        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        inner = m[pad:-pad, pad:-pad] if min(m.shape) > 2 * pad else m
        out.append(float(inner.mean()))
    return float(np.mean(out))
