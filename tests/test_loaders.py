"""Outputs read with standard loaders, without flags (issue 14.3).

A synth output and the session's curate output are read *together* through pandas, pyarrow
datasets and duckdb (one index schema for both), through Hugging Face ``datasets`` (the
dataset card's front matter points at the tars and declares their types), through
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

    from textsynth.card import hf_features

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(synth_out.parent / "hf-cache"))
    cur = curated[0]
    synth = datasets.load_dataset(str(synth_out), split="train")  # the card points at the tars
    assert len(synth) == _rows(synth_out)
    assert synth[0]["png"].size == (256, 256) and synth[0]["json"]["source"] == "synth"
    assert synth[0]["json"]["recipe"]["seed"] is not None  # free-form, declared json
    # The curate output mixes image crops (origin.page null) and PDF crops (an int): loadable
    # only because the card declares the types rather than leaving them to inference.
    doc = datasets.load_dataset(str(cur), split="train")
    assert len(doc) == _rows(cur) and {r["json"]["source"] for r in doc} == {"doc"}
    pages = {r["json"]["origin"]["page"] for r in doc}
    assert None in pages and pages - {None}, "fixture should hold both image and PDF crops"
    both = datasets.concatenate_datasets([synth, doc])  # same declared features
    assert len(both) == len(synth) + len(doc)
    tars = [str(out / s["url"]) for out in (cur, synth_out)  # curate first: no lucky order
            for s in json.loads((out / "shards.json").read_text())["shardlist"] if s["nsamples"]]
    raw = datasets.load_dataset("webdataset", data_files=tars, features=hf_features(), split="train")
    assert len(raw) == len(both) and raw.features == synth.features

    manifest = json.loads((synth_out / "shards.json").read_text())
    assert manifest["__kind__"] == "wids-shard-index-v1"
    assert [s["nsamples"] for s in manifest["shardlist"]] == [6, 6]
    urls = [str(out / s["url"]) for out in (synth_out, cur)
            for s in json.loads((out / "shards.json").read_text())["shardlist"]]
    read = list(wds.WebDataset(urls, shardshuffle=False).decode("rgb"))
    assert len(read) == len(both) and {r["json"]["source"] for r in read} == {"synth", "doc"}


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
