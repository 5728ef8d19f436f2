"""`textsynth assets fetch`: assemble fonts, corpora, photos, documents and OCR models.

Reads the manifests (``fonts/manifest.yaml``, ``corpora/manifest.yaml``), downloads each
package of the chosen profile and writes what it needs into the cache
(:mod:`textsynth.paths`). Every finished item leaves a marker listing its outputs, so a
second run does nothing, and an interrupted one redoes only unfinished items.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from textsynth import paths
from textsynth.assets.packages import FetchError, download_deb, download_wheel, extract

PROFILES = ("ci", "full")
FONT_GLOBS = ["*.ttf", "*.otf", "*.ttc"]  # any font file in the package (fnmatch * spans "/")


@dataclass
class Item:
    """One manifest entry: a package and what to make of it."""

    section: str  # fonts | text | backgrounds | documents | models
    name: str
    source: str  # "debian:<pkg>" or "pypi:<name==version>"
    files: list[str]
    exclude: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)

    @property
    def marker(self) -> Path:
        return paths.home() / ".done" / f"{self.section}.{self.name}.json"


def load_items(profile: str) -> list[Item]:
    """The manifest entries belonging to ``profile`` (``full`` includes ``ci``)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    wanted = {"ci"} if profile == "ci" else {"ci", "full"}
    fonts = yaml.safe_load(paths.packaged_manifest("fonts").read_text())
    corpora = yaml.safe_load(paths.packaged_manifest("corpora").read_text())
    items = [
        Item("fonts", e["package"], f"debian:{e['package']}", FONT_GLOBS)
        for e in fonts["fonts"] if e["profile"] in wanted
    ]
    for section in ("text", "backgrounds", "documents", "models"):
        for e in corpora.get(section, []):
            if e["profile"] not in wanted:
                continue
            source = f"debian:{e['debian']}" if "debian" in e else f"pypi:{e['pypi']}"
            opts = {k: e[k] for k in ("kind", "lang") if k in e}
            items.append(Item(section, e["name"], source, e["files"], e.get("exclude", []), opts))
    return items


def _download(item: Item) -> Path:
    registry, _, spec = item.source.partition(":")
    if registry == "debian":
        return download_deb(spec, paths.downloads_dir())
    return download_wheel(spec, paths.downloads_dir())


def _build(item: Item, archive: Path) -> tuple[list[Path], dict]:
    """Produce the item's outputs in the cache; return them and stats."""
    if item.section == "fonts":
        return extract(archive, item.files, item.exclude, paths.fonts_dir() / item.name), {}
    if item.section == "backgrounds":
        return extract(archive, item.files, item.exclude, paths.backgrounds_dir() / item.name), {}
    if item.section == "documents":
        return extract(archive, item.files, item.exclude, paths.documents_dir() / item.name), {}
    with tempfile.TemporaryDirectory(prefix="textsynth-fetch-") as tmp:
        files = extract(archive, item.files, item.exclude, Path(tmp))
        if item.section == "text":
            from textsynth.assets.corpus import build_corpus

            out = paths.corpora_dir() / f"{item.name}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            stats = build_corpus(files, item.options["kind"], item.options["lang"], out)
            if stats["lines_out"] == 0:
                raise FetchError(f"corpus {item.name}: cleaning left no lines ({stats['dropped']})")
            return [out], stats
        if item.section == "models":
            from textsynth.ocr import prepare_ppocrv5

            prepare_ppocrv5(archive, paths.models_dir())
            outs = [p for p in paths.models_dir().glob("PP-OCRv5_mobile_*/*") if p.is_file()]
            return outs, {}
    raise ValueError(f"unknown manifest section {item.section!r}")


def is_done(item: Item) -> bool:
    if not item.marker.exists():
        return False
    record = json.loads(item.marker.read_text())
    # a manifest entry that changed (another package version, more files) is fetched again
    same = record.get("source") == item.source and record.get("files") == item.files
    return same and all((paths.home() / p).exists() for p in record["outputs"])


def fetch(profile: str = "ci", log=print, keep_downloads: bool = False) -> dict:
    """Assemble every item of ``profile`` into the cache; return a summary.

    The downloaded packages are removed once every item is extracted, unless
    ``keep_downloads``. Raises FetchError naming the package when a registry or archive
    fails; items already finished stay finished, and the downloads stay for the rerun.
    """
    items = load_items(profile)
    home = paths.home()
    todo = [it for it in items if not is_done(it)]
    if not todo:
        log(f"assets: all {len(items)} items of profile '{profile}' present in {home}; nothing to do")
        _finish(keep_downloads, log)
        return {"profile": profile, "home": str(home), "fetched": 0, "present": len(items)}
    log(f"assets: fetching {len(todo)} of {len(items)} items of profile '{profile}' into {home}")
    for i, item in enumerate(todo, 1):
        t0 = time.perf_counter()
        archive = _download(item)
        outputs, stats = _build(item, archive)
        item.marker.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "source": item.source,
            "archive": archive.name,
            "files": item.files,
            "outputs": sorted(str(p.relative_to(home)) for p in outputs),
            "stats": stats,
        }
        item.marker.write_text(json.dumps(record, indent=1, ensure_ascii=False))
        log(f"  [{i}/{len(todo)}] {item.section}/{item.name} <- {item.source}: "
            f"{len(outputs)} files ({time.perf_counter() - t0:.1f}s)")
    summary = {"profile": profile, "home": str(home), "fetched": len(todo), "present": len(items)}
    (home / f"profile-{profile}.json").write_text(json.dumps(summary, indent=1))
    log(f"assets: done; {len(items)} items in {home}")
    _finish(keep_downloads, log)
    return summary


def _finish(keep_downloads: bool, log) -> None:
    """Remove the downloads of a finished fetch, unless kept."""
    if keep_downloads or not paths.downloads_dir().exists():
        return
    clean_downloads()
    log(f"assets: removed the downloaded packages ({paths.downloads_dir()}); "
        "--keep-downloads keeps them")


def clean_downloads() -> None:
    """Remove downloaded archives (the extracted assets stay)."""
    shutil.rmtree(paths.downloads_dir(), ignore_errors=True)
