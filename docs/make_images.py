"""Contact sheets of each synthesis mode for the README, made from backgrounds the code draws
(paper pages and plain colours): no photo, so no third-party pixels, goes into the repo.

    python docs/make_images.py [--out docs/images]      (or: make docs-images)

Each sheet is four samples of pipelines/configs/synth_real.yaml with one ingredient forced
(the geometry sheet: one sample of each kind),
at full size (no scaling: small text stays as rendered), saved as JPEG to keep the repo
small; then a screenshot of the gallery over a small job of such pages. Scenes need
photos, so they are not among the committed sheets: render them with
``textsynth render --config pipelines/configs/synth_real.yaml --set background.mode=scene``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from textsynth import paths
from textsynth.config import load_config
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.resources import Resources

PAGES = {"background": {"mode_probs": {"paper": 3, "plain": 1}}, "degrade": {"prob": 0.0}, "geometry": {"prob": 0.0}}
SHEETS = {
    "paper": ("document templates on printed paper",
              {**PAGES, "background": {"mode_probs": {"paper": 1}},
               "layout": {"template_probs": {"dense": 1, "columns": 1, "table": 1, "form": 1, "lists": 1, "slide": 1}}}),
    "plain": ("plain backgrounds: papers, UI greys, slide themes",
              {**PAGES, "background": {"mode_probs": {"plain": 1}}}),
    "geometry": ("rotated, perspective, arc and wave text (labels: quads and polygons)",
                 [{**PAGES, "geometry": {"prob": 1.0, "kind_probs": {k: 1}, "max_perspective": 0.2}}
                  for k in ("rotate", "perspective", "arc", "wave")]),
    "vertical": ("vertical Chinese: columns top to bottom, right to left",
                 {**PAGES, "layout": {"template_probs": {"vertical": 1}}}),
    "degrade": ("capture degradations: blur, noise, JPEG, lighting, bleed-through, halftone",
                {**PAGES, "degrade": {"prob": 1.0, "strength": 1.0}}),
}


def sheet(images: list[np.ndarray], gap: int = 4) -> Image.Image:
    h, w = images[0].shape[:2]
    out = Image.new("RGB", (len(images) * (w + gap) + gap, h + 2 * gap), (40, 40, 40))
    for i, img in enumerate(images):
        out.paste(Image.fromarray(img), (gap + i * (w + gap), gap))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "images")
    ap.add_argument("--per-sheet", type=int, default=4)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for seed, (name, (caption, over)) in enumerate(SHEETS.items()):
        overs = over if isinstance(over, list) else [over] * args.per_sheet   # one per image
        images = []
        for i, o in enumerate(overs):
            res = Resources(load_config(paths.packaged_config("synth_real.yaml"), **o,
                                        size={"bucket_probs": {"5-8": 0.1, "9-12": 0.3, "13-16": 0.3, "17-20": 0.3}}))
            images.append(make_sample(res, seed, i, Stats())[0])
        path = args.out / f"{name}.jpg"
        sheet(images).save(path, quality=88)
        print(f"{path}: {caption}")
    gallery_screenshot(args.out / "gallery.jpg")


def gallery_screenshot(path: Path) -> None:
    """The gallery in headless Chromium over a small synth job of paper pages (no photos)."""
    import tempfile
    import threading

    from textsynth.browser import chromium
    from textsynth.gallery.server import make_server
    from textsynth.synth import run

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(paths.packaged_config("synth_real.yaml"), **PAGES)
        run(cfg, f"{tmp}/paper-pages", num_samples=24, samples_per_shard=12, progress=False)
        server, _ = make_server([f"{tmp}/paper-pages"], port=0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with chromium() as browser:
                page = browser.new_page(viewport={"width": 1200, "height": 720})
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
                page.wait_for_selector("img", timeout=60_000)
                page.wait_for_load_state("networkidle")
                png = page.screenshot()
        finally:
            server.shutdown()
    import io

    Image.open(io.BytesIO(png)).convert("RGB").save(path, quality=85)
    print(f"{path}: the gallery (textsynth gallery OUT)")


if __name__ == "__main__":
    main()
