"""Paper, plain colours and print inks: backgrounds that look like the pages text is printed on.

A paper background is drawn from a few parameters the recipe records (base colour, a seed,
grain, mottle, fibres, a scanner or photocopier tone curve), so the same recipe makes the
same pixels: :func:`paper_pixels` is a pure function of them. Plain backgrounds take their
colour from realistic palettes (papers, UI greys, slide themes) unless a config asks for
the saturated random colours of old. Text on paper gets print inks: near-black, dark blue,
now and then red.
"""

from __future__ import annotations

import cv2
import numpy as np

# (name, RGB, weight): white, cream and grey stock
PAPERS = [("white", (246, 245, 240), 0.45), ("bright", (252, 252, 250), 0.15), ("cream", (243, 234, 212), 0.2),
          ("ivory", (238, 232, 218), 0.1), ("grey", (222, 221, 216), 0.1)]
# Plain colours people put text on: papers, UI surfaces (light and dark), slide themes
PLAIN_PALETTE = [(250, 250, 250), (245, 245, 245), (238, 238, 238), (224, 224, 224), (255, 255, 255),
                 (243, 234, 212), (232, 240, 254), (255, 248, 225), (236, 239, 241),      # light UI, paper
                 (33, 33, 33), (30, 30, 30), (38, 50, 56), (18, 18, 18),                  # dark UI
                 (31, 58, 95), (26, 35, 126), (0, 77, 64), (69, 90, 100), (94, 53, 177),  # slide themes
                 (183, 28, 28), (245, 124, 0), (255, 193, 7)]
# (RGB, weight): print inks
INKS = [((28, 28, 30), 0.55), ((12, 12, 14), 0.15), ((45, 45, 50), 0.1),
        ((22, 36, 96), 0.12), ((160, 26, 30), 0.05), ((20, 70, 40), 0.03)]
TONES = ("none", "scan", "photocopy")


def _pick(rng: np.random.Generator, items, weight_at: int):
    w = np.array([it[weight_at] for it in items], float)
    return items[int(rng.choice(len(items), p=w / w.sum()))]


def plain_color(rng: np.random.Generator, palette: str) -> list[int]:
    """A plain background colour: from :data:`PLAIN_PALETTE` with a little jitter
    ("realistic"), or any RGB ("saturated", the old behaviour)."""
    if palette == "saturated":
        return rng.integers(0, 256, size=3).tolist()
    base = np.array(PLAIN_PALETTE[int(rng.integers(len(PLAIN_PALETTE)))])
    return np.clip(base + rng.integers(-4, 5, size=3), 0, 255).astype(int).tolist()


def draw_paper(rng: np.random.Generator) -> dict:
    """The parameters of one paper background (recorded in the recipe)."""
    _, rgb, _ = _pick(rng, PAPERS, 2)
    color = np.clip(np.array(rgb) + rng.integers(-5, 6, size=3), 0, 255).astype(int).tolist()
    tone = TONES[int(rng.choice(3, p=[0.6, 0.3, 0.1]))]
    return {"mode": "paper", "color": color, "seed": int(rng.integers(2 ** 31)),
            "grain": round(float(rng.uniform(0.5, 3.0)), 2), "mottle": round(float(rng.uniform(1.0, 6.0)), 2),
            "fibres": int(rng.integers(0, 40)), "tone": tone}


def paper_pixels(W: int, H: int, p: dict) -> np.ndarray:
    """The paper of parameters ``p`` at W x H (RGB uint8): base colour, low-frequency mottle,
    fibres, per-pixel grain. Deterministic in ``p``."""
    rng = np.random.default_rng(p["seed"])
    img = np.empty((H, W, 3), np.float32)
    img[...] = p["color"]
    # mottle: uneven pulp and lighting, a few px to tens of px across
    small = rng.standard_normal((max(2, H // 16), max(2, W // 16))).astype(np.float32)
    mottle = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)
    img += (p["mottle"] * mottle)[..., None]
    # fibres: short, thin, faint strokes, darker or lighter than the stock
    fibres = np.zeros((H, W), np.float32)
    for _ in range(p["fibres"]):
        x, y = rng.uniform(0, W), rng.uniform(0, H)
        angle, length = rng.uniform(0, np.pi), rng.uniform(3, 14)
        x2, y2 = x + length * np.cos(angle), y + length * np.sin(angle)
        cv2.line(fibres, (int(x), int(y)), (int(x2), int(y2)), float(rng.choice([-1.0, 1.0]) * rng.uniform(4, 10)),
                 1, cv2.LINE_AA)
    img += fibres[..., None]
    img += rng.normal(0, p["grain"], (H, W, 1)).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def apply_tone(img: np.ndarray, tone: str) -> np.ndarray:
    """A capture's tone curve over the finished page (ink included): ``scan`` lifts the
    paper towards white and deepens the ink a little; ``photocopy`` is harsher and greyer.
    ``none`` leaves the pixels as they are."""
    if tone == "none":
        return img
    x = np.arange(256, dtype=np.float32) / 255.0
    if tone == "scan":
        y = np.clip((x - 0.04) / 0.92, 0, 1) ** 0.95
    else:  # photocopy: a steep S-curve, then a grey floor and ceiling (toner, not ink)
        y = 1 / (1 + np.exp(-9 * (x - 0.55)))
        y = 0.08 + 0.86 * (y - y[0]) / (y[-1] - y[0])
    lut = np.round(255 * y).astype(np.uint8)
    out = cv2.LUT(img, lut)
    if tone == "photocopy":   # a photocopy loses the paper's colour
        grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
        out = np.repeat(grey[..., None], 3, axis=2)
    return out


def ink_color(rng: np.random.Generator) -> list[int]:
    """A print ink, slightly varied."""
    rgb, _ = _pick(rng, INKS, 1)
    return np.clip(np.array(rgb) + rng.integers(-6, 7, size=3), 0, 255).astype(int).tolist()
