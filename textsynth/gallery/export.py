"""A self-contained static gallery: one HTML file with N sampled images embedded.

The page is the live gallery's own app (same HTML, CSS, JS) with its data inlined: images and
reject examples as data URIs, metadata and per-dataset stats as JSON in a
``<script type="application/json">`` element, escaped so that no sample text can end it or
start a script (:func:`_script_json`). Filtering, the detail view and box overlays run in the
browser; no server is needed to open or share it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from textsynth.gallery import webfont
from textsynth.gallery.server import IMAGE_TYPES, Gallery, HttpError, static_file


def _data_uri(data: bytes, name: str) -> str:
    mime = IMAGE_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


# Inside <script>, "</script", "<!--" and "-->" change how the HTML parser reads on; written
# as JSON escapes, no text can contain them (nor U+2028/2029, line breaks to old JS parsers).
_SCRIPT_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                                 "\u2028": "\\u2028", "\u2029": "\\u2029"})
DATA_ID = "gallery-data"  # <script type="application/json" id=...>: app.js reads the data from it


def _script_json(obj) -> str:
    """``obj`` as JSON that is inert inside a ``<script>`` element, whatever its strings hold."""
    return json.dumps(obj, ensure_ascii=False).translate(_SCRIPT_ESCAPES)


def export(dirs: list[str], out: str, sample: int = 200, seed: int = 0, log=print) -> Path:
    """Write ``out`` (a folder, gets ``index.html``; or a path ending in ``.html``)."""
    gallery = Gallery(dirs)
    cat = gallery.catalog
    n = cat.num_rows
    if n == 0:
        raise ValueError(f"nothing to export: no samples in {', '.join(dirs)}")
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False))
    samples, skipped = [], []
    for i in rows.tolist():
        row = cat.row_at(i)
        params = {"dataset": [row["dataset"]], "shard": [row["shard"]], "key": [row["key"]]}
        try:
            data, _ = gallery.image(params)
            meta = gallery.sample(params)["meta"]
        except Exception as e:  # noqa: BLE001 - counted and reported, the rest is exported
            skipped.append(f"{row['dataset']}/{row['key']}: {e}")
            continue
        samples.append({"row": row, "meta": meta, "image": _data_uri(data, row["image"])})
    stats = {}
    for name in cat.datasets:
        s = cat.stats(name)
        for reason in s["rejects"].values():
            examples = []
            for ex in reason["examples"]:
                params = {"dataset": [name], "shard": [ex["shard"]], "image": [ex["image"]]}
                try:
                    data, _ = gallery.reject_image(params)
                except HttpError as e:  # counted and reported, like a sample
                    skipped.append(f"{name}/rejects/{ex['shard']}/{ex['image']}: {e}")
                    continue
                examples.append({**ex, "data": _data_uri(data, ex["image"])})
            reason["examples"] = examples
        stats[name] = s
    info = gallery.datasets({})
    payload = {**info, "total": len(samples), "samples": samples, "stats": stats}
    data_json = _script_json(payload)
    css = static_file("style.css").decode()
    face = webfont.han_face()
    if face is not None:  # the CJK web font, only the glyphs this page shows
        font = webfont.subset_font(face, "".join(ch for ch in set(data_json) if ord(ch) > 0x2E7F))
        css = css.replace(f'url("{webfont.FONT_ROUTE}")',
                          f'url("data:{webfont.mime(font)};base64,{base64.b64encode(font).decode()}")')
    else:
        log("export: no CJK font in the asset fonts; Chinese text shows in the viewer's own fonts")
    html = static_file("index.html").decode()
    html = html.replace('<link rel="stylesheet" href="/static/style.css">', f"<style>\n{css}</style>")
    html = html.replace('<script src="/static/app.js"></script>',
                        f'<script type="application/json" id="{DATA_ID}">{data_json}</script>\n'
                        f"<script>\n{static_file('app.js').decode()}</script>")
    path = Path(out)
    if path.suffix != ".html":
        path.mkdir(parents=True, exist_ok=True)
        path = path / "index.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    for s in skipped:
        log(f"export: skipped {s}")
    log(f"export: {len(samples)} samples of {n} ({len(skipped)} skipped) -> {path} "
        f"({path.stat().st_size / 1e6:.1f} MB)")
    return path
