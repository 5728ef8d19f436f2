"""The gallery's catalog: every served output dir's parquet indexes in one Arrow table.

Only listing columns are held in memory (key, shard, labels, scores, text); images and the
full metadata stay in the tars and are read on demand by member offset (:mod:`tarstore`).
A dataset whose index cannot be read keeps its error message and the others keep working.

A query is a conjunction of filters evaluated with Arrow compute over the whole table; the
facet counts for each filterable column are taken with every filter *except* that column's
own, so the counts show what choosing another value would give.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FACETS = ("dataset", "source", "lang", "size_bucket", "font")
LIST_COLUMNS = ["key", "dataset", "shard", "image", "image_offset", "image_size", "source", "lang",
                "size_bucket", "char_px", "width", "height", "text", "fonts"]
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # dataset, shard and key names
MAX_PER_PAGE = 500


def _np(arr, fill=False) -> np.ndarray:
    """An Arrow array as numpy, nulls replaced by ``fill``."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = pc.fill_null(arr, fill)
    if pa.types.is_dictionary(arr.type):
        arr = arr.indices
    return arr.to_numpy(zero_copy_only=False)


def _and(masks, n: int) -> np.ndarray:
    out = np.ones(n, bool)
    for m in masks:
        out &= m
    return out


class QueryError(ValueError):
    """A bad filter value; its message names the parameter."""


@dataclass
class Dataset:
    name: str
    root: Path
    shards: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # per-file problems; the rest still loads
    stats: dict | None = None
    rejects: pa.Table | None = None                  # curate output: one row per reject

    def summary(self, rows: int) -> dict:
        return {"name": self.name, "rows": rows, "shards": len(self.shards), "errors": self.errors,
                "rejects": 0 if self.rejects is None else self.rejects.num_rows}


def _normalise(table: pa.Table, dataset: str, shard: str) -> pa.Table:
    """The listing columns of one shard index, typed the same for every dataset."""
    n = table.num_rows
    cols = {}
    for name in LIST_COLUMNS:
        if name == "dataset":
            cols[name] = pa.array([dataset] * n, pa.string())
        elif name == "shard":
            cols[name] = pa.array([shard] * n, pa.string())
        elif name == "fonts":
            if "fonts" in table.column_names:
                cols[name] = table["fonts"].cast(pa.list_(pa.string()))
            else:  # indexes written before the fonts column: take them from the lines JSON
                lines = table["lines"].to_pylist() if "lines" in table.column_names else [None] * n
                cols[name] = pa.array([sorted({ln.get("font") for ln in json.loads(v or "[]")
                                               if ln.get("font")}) for v in lines],
                                      pa.list_(pa.string()))
        elif name in table.column_names:
            typ = {"image_offset": pa.int64(), "image_size": pa.int64(), "char_px": pa.float64(),
                   "width": pa.int64(), "height": pa.int64()}.get(name, pa.string())
            cols[name] = table[name].cast(typ)
        else:
            typ = pa.int64() if name in ("image_offset", "image_size", "width", "height") else (
                pa.float64() if name == "char_px" else pa.string())
            cols[name] = pa.nulls(n, typ)
    for name in table.column_names:
        if name.startswith("score_"):
            col = table[name]
            if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
                cols[name] = col.cast(pa.float64())
    return pa.table(cols)


def load_dataset(name: str, root: Path) -> tuple[Dataset, list[pa.Table]]:
    ds = Dataset(name, root)
    tables = []
    if not (root / "shards").is_dir():
        ds.errors.append(f"{root}: no shards/ folder (not a synth, curate or bench output dir)")
        return ds, tables
    for path in sorted((root / "shards").glob("*.parquet")):
        shard = path.stem
        if not NAME_RE.match(shard):
            ds.errors.append(f"{path.name}: unusable shard name, skipped")
            continue
        try:
            t = pq.read_table(path)
            if "key" not in t.column_names or (t.num_rows and "image" not in t.column_names):
                raise ValueError("not a shard index (no key/image columns)")
            tables.append(_normalise(t, name, shard))
            ds.shards.append(shard)
        except Exception as e:  # noqa: BLE001 - any unreadable index is reported, not fatal
            ds.errors.append(f"{path.name}: unreadable index ({type(e).__name__}: {e})")
    for path in sorted((root / "shards").glob("*.tar")):
        if path.stem not in ds.shards and ".tmp-" not in path.name and NAME_RE.match(path.stem):
            ds.errors.append(f"{path.name}: no parquet index next to it, not listed")
    try:
        ds.stats = json.loads((root / "stats.json").read_text())
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as e:
        ds.errors.append(f"stats.json: unreadable ({e})")
    ds.rejects = _load_rejects(ds)
    return ds, tables


def _load_rejects(ds: Dataset) -> pa.Table | None:
    parts = []
    for path in sorted((ds.root / "rejects").glob("*.parquet")):
        try:
            t = pq.read_table(path)
            parts.append(t.append_column("shard", pa.array([path.stem] * t.num_rows, pa.string())))
        except Exception as e:  # noqa: BLE001
            ds.errors.append(f"rejects/{path.name}: unreadable ({type(e).__name__}: {e})")
    return pa.concat_tables(parts, promote_options="default") if parts else None


def dataset_names(dirs: list[str]) -> list[tuple[str, Path]]:
    """(unique name, path) per served dir; names are the folder names made URL-safe."""
    out, seen = [], set()
    for d in dirs:
        root = Path(d).resolve()
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", root.name).lstrip(".-") or "dataset"
        name, n = base, 2
        while name in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name)
        out.append((name, root))
    return out


class Catalog:
    def __init__(self, dirs: list[str]):
        self.datasets: dict[str, Dataset] = {}
        tables = []
        for name, root in dataset_names(dirs):
            if not root.is_dir():
                raise FileNotFoundError(f"{root}: no such directory")
            ds, t = load_dataset(name, root)
            self.datasets[name] = ds
            tables += t
        empty = _normalise(pa.table({"key": pa.array([], pa.string())}), "", "")
        self.table = pa.concat_tables([empty, *tables], promote_options="default").combine_chunks()
        # Facet columns as dictionaries: equality filters and counts then work on small ints.
        for col in ("dataset", "shard", "source", "lang", "size_bucket"):
            i = self.table.schema.get_field_index(col)
            self.table = self.table.set_column(i, col, pc.dictionary_encode(self.table[col]))
        self.score_columns = sorted(c for c in self.table.column_names if c.startswith("score_"))
        # Rows of each (dataset, shard) are contiguous: find a key by scanning one shard only.
        ds_col, sh_col = self.table["dataset"].to_pylist(), self.table["shard"].to_pylist()
        self._spans: dict[tuple[str, str], list[int]] = {}
        for i, k in enumerate(zip(ds_col, sh_col)):
            span = self._spans.setdefault(k, [i, i])
            span[1] = i + 1
        fonts = self._col("fonts")
        self._fonts_flat, self._fonts_parent = pc.list_flatten(fonts), pc.list_parent_indices(fonts)

    # ------------------------------------------------------------------ lookups

    def row(self, dataset: str, shard: str, key: str) -> dict | None:
        span = self._spans.get((dataset, shard))
        if span is None:
            return None
        keys = self.table["key"].slice(span[0], span[1] - span[0])
        i = pc.index(keys, key).as_py()
        return None if i < 0 else self.table.slice(span[0] + i, 1).to_pylist()[0]

    def rows_of(self, dataset: str) -> int:
        return sum(b - a for (d, _), (a, b) in self._spans.items() if d == dataset)

    # ------------------------------------------------------------------ queries

    def _col(self, name: str) -> pa.Array:
        return self.table[name].chunk(0) if self.table[name].num_chunks == 1 else \
            self.table[name].combine_chunks()

    def _masks(self, params: dict) -> dict[str, np.ndarray]:
        """One boolean mask (numpy) per active filter, keyed by the parameter that set it."""
        masks = {}
        for col in ("dataset", "source", "lang", "size_bucket"):
            if params.get(col):
                masks[col] = _np(pc.is_in(self._col(col), value_set=pa.array(params[col], pa.string())))
        if params.get("font"):
            hit = pc.is_in(self._fonts_flat, value_set=pa.array(params["font"], pa.string()))
            m = np.zeros(self.table.num_rows, bool)
            m[_np(self._fonts_parent)[_np(hit)]] = True
            masks["font"] = m
        if params.get("q"):
            masks["q"] = _np(pc.match_substring(self._col("text"), params["q"][0], ignore_case=True))
        for name, (lo, hi) in (params.get("scores") or {}).items():
            if name not in self.score_columns:
                raise QueryError(f"unknown score {name[6:]!r}; this catalog has "
                                 f"{[c[6:] for c in self.score_columns]}")
            v = _np(self._col(name), fill=np.nan)
            with np.errstate(invalid="ignore"):  # NaN (no score) compares False: filtered out
                masks[f"score:{name}"] = ((v >= lo) if lo is not None else ~np.isnan(v)) & \
                                         ((v <= hi) if hi is not None else True)
        return masks

    def query(self, params: dict, page: int = 0, per_page: int = 60) -> dict:
        """Filtered rows: total, one page of items, and faceted counts."""
        if per_page < 1 or per_page > MAX_PER_PAGE or page < 0:
            raise QueryError(f"page must be >= 0 and per_page 1..{MAX_PER_PAGE}")
        masks = self._masks(params)
        everything = _and(masks.values(), self.table.num_rows)
        rows = np.flatnonzero(everything)
        page_rows = rows[page * per_page:(page + 1) * per_page]
        items = self.table.select(["dataset", "shard", "key", "source", "lang", "size_bucket",
                                   "char_px", "width", "height", "text"]).take(page_rows).to_pylist()
        for it in items:
            it["text"] = (it["text"] or "")[:200]
        counts = {f: self._facet_counts(f, _and((m for k, m in masks.items() if k != f),
                                                self.table.num_rows)) for f in FACETS}
        return {"total": int(len(rows)), "page": page, "per_page": per_page, "items": items,
                "counts": counts}

    def _facet_counts(self, facet: str, mask: np.ndarray) -> dict[str, int]:
        if facet == "font":
            values = pc.filter(self._fonts_flat, mask[_np(self._fonts_parent)])
        else:
            values = pc.filter(self._col(facet), mask)
        pairs = [(v["values"], v["counts"]) for v in pc.value_counts(values).to_pylist()
                 if v["values"] is not None]
        return dict(sorted(pairs, key=lambda kv: (-kv[1], str(kv[0]))))

    def score_ranges(self) -> dict[str, list[float]]:
        out = {}
        for c in self.score_columns:
            mm = pc.min_max(self.table[c]).as_py()
            if mm["min"] is not None:
                out[c[6:]] = [mm["min"], mm["max"]]
        return out

    def stats(self, dataset: str, examples: int = 4) -> dict:
        """Counts by lang, size bucket, font and source; rejects by reason with examples."""
        ds = self.datasets[dataset]
        r = self.query({"dataset": [dataset]}, per_page=1)
        out = {"dataset": ds.summary(r["total"]), "counts": {k: v for k, v in r["counts"].items()
                                                             if k != "dataset"},
               "job_stats": ds.stats, "rejects": {}}
        if ds.rejects is not None and ds.rejects.num_rows:
            rej = ds.rejects.select([c for c in ("key", "reason", "detail", "image", "shard")
                                     if c in ds.rejects.column_names]).to_pylist()
            by_reason: dict[str, dict] = {}
            for row in rej:
                entry = by_reason.setdefault(row["reason"], {"count": 0, "examples": []})
                entry["count"] += 1
                if row.get("image") and len(entry["examples"]) < examples:
                    entry["examples"].append({"shard": row["shard"], "image": row["image"],
                                              "key": row["key"], "detail": row.get("detail")})
            out["rejects"] = dict(sorted(by_reason.items(), key=lambda kv: -kv[1]["count"]))
        return out

    def reject_member(self, dataset: str, shard: str, image: str) -> bool:
        ds = self.datasets.get(dataset)
        if ds is None or ds.rejects is None:
            return False
        m = pc.and_(pc.equal(ds.rejects["shard"], shard), pc.equal(ds.rejects["image"], image))
        return bool(pc.any(m).as_py())
