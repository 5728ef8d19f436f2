"""Outputs read with standard loaders, without flags (issue 14.3).

A synth output and the session's curate output are read *together* through pandas, pyarrow
datasets and duckdb (one index schema for both), through Hugging Face ``datasets`` (the
dataset card's front matter points at the tars; a second config at the indexes), through
webdataset with the shard list in ``shards.json``, and a ``render`` folder through
``imagefolder`` (its ``metadata.jsonl``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def synth_out(assets, tmp_path_factory):
    out = tmp_path_factory.mktemp("loaders") / "synth"
    proc = subprocess.run([str(BIN / "textsynth"), "synth", "--out", str(out), "--num-samples", "12",
                           "--samples-per-shard", "6", "--seed", "2", "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def _rows(out: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in (out / "index").glob("*.parquet"))


def test_one_index_schema_for_synth_and_curate(synth_out, curated):
    import duckdb
    import pandas as pd
    import pyarrow.dataset as ds

    cur = curated[0]
    schemas = {pq.read_schema(p) for out in (synth_out, cur) for p in (out / "index").glob("*.parquet")}
    assert len(schemas) == 1  # same names, types and order everywhere
    n = _rows(synth_out) + _rows(cur)
    both = ds.dataset([ds.dataset(synth_out / "index"), ds.dataset(cur / "index")]).to_table()
    assert both.num_rows == n
    assert str(both.schema.field("lines").type).startswith("list<element: struct<text: string, bbox")
    frame = pd.concat([pd.read_parquet(synth_out / "index"), pd.read_parquet(cur / "index")])
    assert len(frame) == n and set(frame["source"]) == {"synth", "doc"}
    got = duckdb.sql(f"SELECT source, count(*) AS n, min(len(lines)) AS l FROM read_parquet("
                     f"['{synth_out}/index/*.parquet', '{cur}/index/*.parquet']) GROUP BY source "
                     f"ORDER BY source").fetchall()
    assert [g[0] for g in got] == ["doc", "synth"] and sum(g[1] for g in got) == n
    (doc,) = duckdb.sql(f"SELECT scores.ocr_chars, origin.file FROM '{cur}/index/*.parquet' LIMIT 1").fetchall()
    assert doc[0] > 0 and isinstance(doc[1], str)  # typed struct fields, not JSON strings


def test_hugging_face_webdataset_and_shard_list(synth_out, curated, monkeypatch):
    import datasets
    import webdataset as wds

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(synth_out.parent / "hf-cache"))
    images = datasets.load_dataset(str(synth_out), split="train")  # the card points at the tars
    assert len(images) == _rows(synth_out)
    assert images[0]["png"].size == (256, 256) and images[0]["json"]["source"] == "synth"
    index = datasets.load_dataset(str(synth_out / "index"), split="train")
    assert len(index) == _rows(synth_out) and "lines" in index.column_names
    # Not yet for curate output (open in issue 14): HF's webdataset builder infers the JSON
    # types from the first shard (image crops: origin.page null; PDF crops later: an int),
    # and its parquet builder fails on an empty index (a partition whose crops were all
    # rejected). pandas, pyarrow and duckdb read it (test above).
    manifest = json.loads((synth_out / "shards.json").read_text())
    assert manifest["__kind__"] == "wids-shard-index-v1"
    assert [s["nsamples"] for s in manifest["shardlist"]] == [6, 6]
    urls = [str(synth_out / s["url"]) for s in manifest["shardlist"]]
    assert len(list(wds.WebDataset(urls, shardshuffle=False))) == 12


def test_render_folder_loads_as_imagefolder(assets, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    proc = subprocess.run([str(BIN / "textsynth"), "render", "--num", "4", "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "r"), split="train")
    assert len(folder) == 4 and folder[0]["image"].size == (256, 256)
    assert folder[0]["text"] and folder[0]["lines"][0]["bbox"]
