"""What a finished output says about itself: ``shards.json`` and the dataset card.

``shards.json`` is a wids-style shard list with per-shard sample counts (webdataset's
``wids`` and any loader that wants lengths up front). ``README.md`` is a Hugging Face dataset
card whose front matter points ``load_dataset(OUT)`` at the tars (pixels + JSON) and
*declares* their feature types (``hf_features`` gives the same types to code that loads
several outputs at once with ``load_dataset("webdataset", data_files=..., features=...)``).
Declaring them matters: left to itself, ``datasets`` infers the JSON types from the first
shard's first samples, and a curate job whose first shard holds image crops (``origin.page``
null) then fails on a later PDF crop (an int). With the types in the card, every textsynth
output loads the same way and two outputs concatenate.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.fs as pafs
import yaml

from textsynth.shards import (INDEX_DIR, SAMPLE_JSON, atomic_write,
                              parquet_from_bytes, parse_marker, read_bytes)


def _feature(name: str, t: pa.DataType) -> dict:
    """One field in the card's YAML feature syntax (what ``datasets.Features`` writes)."""
    if pa.types.is_struct(t):
        return {"name": name, "struct": [_feature(f.name, f.type) for f in t]}
    if pa.types.is_list(t):
        inner = t.value_type
        if pa.types.is_struct(inner):
            return {"name": name, "list": [_feature(f.name, f.type) for f in inner]}
        return {"name": name, "list": _dtype(inner)}
    return {"name": name, "dtype": _dtype(t)}


def _dtype(t: pa.DataType) -> str:
    return {pa.string(): "string", pa.int32(): "int32", pa.int64(): "int64",
            pa.float64(): "float64"}[t]


def sample_features(image_ext: str) -> list[dict]:
    """Features of one tar sample: the image and its JSON (the sample contract). The recipe
    is free-form (its shape follows the layout code), so it is declared ``json``."""
    json_fields = [_feature(f.name, f.type) for f in SAMPLE_JSON if f.name != "recipe"]
    return [{"name": image_ext, "dtype": "image"},
            {"name": "json", "struct": [*json_fields, {"name": "recipe", "dtype": "json"}]}]


def hf_features(image_ext: str = "png"):
    """The card's sample features as ``datasets.Features`` (needs ``datasets`` >= 4.7)."""
    import datasets

    return datasets.Features._from_yaml_list(sample_features(image_ext))


def _image_ext(fs: pafs.FileSystem, root: str, shards: list[dict]) -> str:
    """The image member's extension (``png``, ``jpg``...), read off the first non-empty index."""
    for s in shards:
        if s["nsamples"]:
            name = s["url"].split("/")[-1][:-4]
            table = parquet_from_bytes(read_bytes(fs, f"{root}/{INDEX_DIR}/{name}.parquet"))
            return table.column("image")[0].as_py().rsplit(".", 1)[-1]
    return "png"


def write_manifest(fs: pafs.FileSystem, root: str, title: str, extra: dict | None = None, notes: str = "") -> dict:
    """``shards.json`` (from the completion markers) and the dataset card ``README.md``.
    Written by the job's driver after its shards. ``extra`` adds keys to shards.json (e.g. a
    bench's review), ``notes`` a Markdown section to the card."""
    infos = fs.get_file_info(pafs.FileSelector(f"{root}/_completions", allow_not_found=True))
    shards = []
    for info in sorted(infos, key=lambda i: i.base_name):
        if info.base_name.endswith(".json"):
            try:
                record = parse_marker(read_bytes(fs, info.path))
            except ValueError:
                continue   # a malformed marker marks no shard (verify names it)
            shards.append({"url": f"shards/{info.base_name[:-5]}.tar", "nsamples": record["samples"]})
    manifest = {"__kind__": "wids-shard-index-v1", "wids_version": 1, "name": title,
                "shardlist": shards, **(extra or {})}
    atomic_write(fs, f"{root}/shards.json", json.dumps(manifest, indent=1).encode())

    # Files are listed one by one, leaving out empty shards (every sample skipped or
    # rejected): both Hugging Face builders fail on a file with no rows.
    full = [s["url"].split("/")[-1][:-4] for s in shards if s["nsamples"]]
    ext = _image_ext(fs, root, shards)
    front = {
        "configs": [{"config_name": "default",
                     "data_files": [{"split": "train", "path": [f"shards/{n}.tar" for n in full]}]}],
        "dataset_info": {"features": sample_features(ext)},
    }
    total = sum(s["nsamples"] for s in shards)
    card = (f"---\n{yaml.safe_dump(front, sort_keys=False, allow_unicode=True)}---\n\n"
            f"# {title}\n\nA textsynth output: {total} samples in {len(shards)} webdataset shards "
            f"(`shards/*.tar`: `KEY.{ext}` + `KEY.json` per sample) with one parquet index per "
            f"shard (`{INDEX_DIR}/*.parquet`, metadata only, one row per sample) and "
            f"`shards.json` (shard list with sample counts). `config.yaml` is the config that "
            f"made it, `stats.json` the counts by reason.\n\n"
            f"```python\nfrom datasets import load_dataset   # datasets >= 4.7 (the `json` type)\n"
            f"images = load_dataset(\"path/to/this/dir\")   # pixels + JSON metadata\n"
            f"import pandas as pd\n"
            f"index = pd.read_parquet(\"path/to/this/dir/{INDEX_DIR}\")   # metadata only\n```\n"
            + (f"\n{notes}" if notes else ""))
    atomic_write(fs, f"{root}/README.md", card.encode())
    return manifest

