"""The gallery's catalog: the listing columns of every served output dir's shard indexes.

Only what listing and filtering need is held in memory, in compact form: facet columns
(dataset, shard, source, lang, size bucket, fonts) as small integer codes into short value lists,
numbers as numpy arrays, key and text as Arrow strings (one chunk per shard, never copied
into one). Images and full metadata stay in the tars and are read on demand (:mod:`tarstore`).
A dataset whose files cannot be read keeps the error messages and the others keep working.
Files are opened through :func:`files.open_inside`: a symlink, or anything that leads out of
the served dir, is reported as a problem and never read.

A query is a conjunction of numpy masks; a facet's counts are taken with every filter
*except* that facet's own, so they show what choosing another value would give.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from textsynth.gallery.files import ServedDir, ServedURI, UnsafeFile, served
from textsynth.memory import give_back_memory

# Per-row string facets ("canvas" is WIDTHxHEIGHT, made from the index's width and height).
ROW_FACETS = ("source", "lang", "size_bucket", "template", "canvas")
FACETS = ("dataset", *ROW_FACETS, "font")
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # dataset, shard and key names
MAX_PER_PAGE = 500
NUMBERS = {"char_px": np.float32, "width": np.int32, "height": np.int32,
           "image_offset": np.int64, "image_size": np.int32}
READ = {"key", "image", "source", "lang", "size_bucket", "template", "text", "fonts", *NUMBERS}


class QueryError(ValueError):
    """A bad filter value; its message names the parameter."""


class Codes:
    """A string column as integer codes into a list of its distinct values (-1: null)."""

    def __init__(self):
        self.values: list[str] = []
        self._code: dict[str, int] = {}
        self._parts: list[np.ndarray] = []
        self.codes = np.zeros(0, np.int32)

    def code(self, value: str) -> int:
        if value not in self._code:
            self._code[value] = len(self.values)
            self.values.append(value)
        return self._code[value]

    def add(self, arr: pa.Array) -> None:
        enc = pc.dictionary_encode(arr.cast(pa.string()))
        to_global = np.array([self.code(v) for v in enc.dictionary.to_pylist()] + [-1], np.int32)
        local = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
        self._parts.append(to_global[local])  # -1 indexes the trailing -1: nulls stay null

    def add_constant(self, value: str, n: int) -> None:
        self._parts.append(np.full(n, self.code(value), np.int32))

    def finish(self) -> None:
        """Concatenate the parts into the narrowest integer type that holds every code."""
        dtype = np.int8 if len(self.values) < 2**7 else np.int16 if len(self.values) < 2**15 else np.int32
        self.codes = np.concatenate([self.codes, *self._parts]).astype(dtype)
        self._parts = []

    def mask(self, wanted: list[str]) -> np.ndarray:
        return np.isin(self.codes, [self._code[v] for v in wanted if v in self._code])

    def counts(self, mask: np.ndarray | None = None) -> dict[str, int]:
        codes = self.codes if mask is None else self.codes[mask]
        n = np.bincount(codes[codes >= 0], minlength=len(self.values))
        return dict(sorted(((v, int(c)) for v, c in zip(self.values, n) if c),
                           key=lambda kv: (-kv[1], kv[0])))


@dataclass
class Dataset:
    name: str
    root: ServedDir | ServedURI
    shards: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # per-file problems; the rest still loads
    empty_shards: list[str] = field(default_factory=list)  # 0-sample shards (listed, no rows)
    index_dir: str | None = None                    # "index", or "shards" in older outputs
    stats: dict | None = None
    rejects: pa.Table | None = None                  # curate output: one row per reject

    def summary(self, rows: int) -> dict:
        return {"name": self.name, "rows": rows, "shards": len(self.shards), "errors": self.errors,
                "empty_shards": self.empty_shards,
                "rejects": 0 if self.rejects is None else self.rejects.num_rows}


def dataset_names(dirs: list[str]) -> list[tuple[str, ServedDir | ServedURI]]:
    """(unique name, served dir) per served dir or URI; names are the folder names made URL-safe."""
    out, seen = [], set()
    for d in dirs:
        root = served(d)
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", root.name).lstrip(".-") or "dataset"
        name, n = base, 2
        while name in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name)
        out.append((name, root))
    return out


def _read_parquet(root: ServedDir | ServedURI, rel: str, columns: list[str] | None = None) -> pa.Table:
    with root.open(rel) as f:
        return pq.ParquetFile(f).read(columns=columns)


def _read_index(root: ServedDir | ServedURI, rel: str) -> pa.Table | None:
    """The listing columns of one shard index; None for an empty (0-sample) shard."""
    with root.open(rel) as f:
        index = pq.ParquetFile(f)
        if index.metadata.num_rows == 0:  # a shard where every sample was skipped: empty, not broken
            return None
        names = index.schema_arrow.names
        if "key" not in names or "image" not in names:
            raise ValueError("not a shard index (no key/image columns)")
        wanted = READ | ({"lines"} if "fonts" not in names else set())
        return index.read(columns=[c for c in names if c in wanted or c.startswith("score_")])


def _fonts(t: pa.Table) -> pa.ListArray:
    if "fonts" in t.column_names:
        return t["fonts"].combine_chunks().cast(pa.list_(pa.string()))
    # indexes written before the fonts column: take them from the lines JSON (imported here:
    # textsynth.shards loads the renderer, which a server of new indexes does not need)
    from textsynth.shards import fonts_of

    lines = t["lines"].to_pylist() if "lines" in t.column_names else [None] * t.num_rows
    return pa.array([fonts_of(json.loads(v or "[]")) for v in lines], pa.list_(pa.string()))


def _load_rejects(ds: Dataset) -> pa.Table | None:
    parts = []
    for file in ds.root.names("rejects", ".parquet"):
        try:
            t = _read_parquet(ds.root, f"rejects/{file}")
            stem = file.removesuffix(".parquet")
            parts.append(t.append_column("shard", pa.array([stem] * t.num_rows, pa.string())))
        except Exception as e:  # noqa: BLE001
            ds.errors.append(str(e) if isinstance(e, UnsafeFile) else
                             f"rejects/{file}: unreadable ({type(e).__name__}: {e})")
    return pa.concat_tables(parts, promote_options="default") if parts else None


class Catalog:
    def __init__(self, dirs: list[str]):
        # The system allocator hands freed memory back (see textsynth.memory); Arrow's
        # default pool would keep the per-shard tables read while loading resident.
        pa.set_memory_pool(pa.system_memory_pool())
        self.datasets: dict[str, Dataset] = {}
        self.facets = {name: Codes() for name in ("dataset", "shard", *ROW_FACETS, "ext")}
        self.font_values = Codes()            # one code per (row, font) pair ...
        self._font_rows: list[np.ndarray] = []  # ... and the row it belongs to
        self._keys: list[pa.Array] = []
        self._texts: list[pa.Array] = []
        self._numbers: dict[str, list[np.ndarray]] = {k: [] for k in NUMBERS}
        self._scores: dict[str, list[np.ndarray]] = {}
        self.spans: dict[tuple[str, str], tuple[int, int]] = {}  # (dataset, shard) -> row range
        self.num_rows = 0
        for name, root in dataset_names(dirs):
            if not root.exists():
                raise FileNotFoundError(f"{root.location}: no such directory")
            self._load_dataset(name, root)
        for c in (*self.facets.values(), self.font_values):
            c.finish()
        self.font_rows = np.concatenate([np.zeros(0, np.int32), *self._font_rows])
        self.keys = pa.chunked_array(self._keys, pa.string())
        self.texts = pa.chunked_array(self._texts, pa.string())
        self._chunk_ends = np.cumsum([len(k) for k in self._keys])
        self.numbers = {k: np.concatenate([np.zeros(0, t), *self._numbers[k]]) for k, t in NUMBERS.items()}
        self.scores = {k: np.concatenate(v) for k, v in sorted(self._scores.items())}
        del self._font_rows, self._keys, self._texts, self._numbers, self._scores
        give_back_memory()  # the per-shard tables and parts read while loading

    def _str(self, column: pa.ChunkedArray, i: int) -> str | None:
        """Element ``i`` of a per-shard chunked column. (ChunkedArray.take would first
        concatenate every chunk: a copy of the whole column for one page of rows.)"""
        c = int(np.searchsorted(self._chunk_ends, i, side="right"))
        return column.chunk(c)[i - (int(self._chunk_ends[c - 1]) if c else 0)].as_py()

    # ------------------------------------------------------------------ loading

    def _load_dataset(self, name: str, root: ServedDir | ServedURI) -> None:
        ds = self.datasets[name] = Dataset(name, root)
        if not root.is_dir("shards"):
            ds.errors.append(f"{root.location}: no shards/ folder (not a synth, curate or bench output dir)")
            return
        # indexes live in index/ (older outputs kept them beside the tars in shards/)
        ds.index_dir = index_dir = "index" if root.is_dir("index") else "shards"
        for file in root.names(index_dir, ".parquet"):
            stem = file.removesuffix(".parquet")
            if not NAME_RE.match(stem):
                ds.errors.append(f"{file}: unusable shard name, skipped")
                continue
            try:
                t = _read_index(root, f"{index_dir}/{file}")
                fonts = _fonts(t) if t is not None else None
            except UnsafeFile as e:
                ds.errors.append(str(e))
                continue
            except Exception as e:  # noqa: BLE001 - any unreadable index is reported, not fatal
                ds.errors.append(f"{file}: unreadable index ({type(e).__name__}: {e})")
                continue
            ds.shards.append(stem)
            if t is None:
                ds.empty_shards.append(stem)
            else:
                self._add_shard(name, stem, t, fonts)
        for file in root.names("shards", ".tar"):
            stem = file.removesuffix(".tar")
            if stem not in ds.shards and ".tmp-" not in file and NAME_RE.match(stem):
                ds.errors.append(f"{file}: no parquet index next to it, not listed")
            elif stem in ds.shards:
                try:  # said once here; its images are refused (403) on every request
                    root.open(f"shards/{file}").close()
                except UnsafeFile as e:
                    ds.errors.append(str(e))
                except OSError:
                    pass  # unreadable: reported per request, as before
        try:
            with root.open("stats.json") as f:
                ds.stats = json.loads(f.read())
        except FileNotFoundError:
            pass
        except UnsafeFile as e:
            ds.errors.append(str(e))
        except (OSError, ValueError) as e:
            ds.errors.append(f"stats.json: unreadable ({e})")
        ds.rejects = _load_rejects(ds)

    def _add_shard(self, dataset: str, shard: str, t: pa.Table, fonts: pa.ListArray) -> None:
        n, start = t.num_rows, self.num_rows
        self.facets["dataset"].add_constant(dataset, n)
        self.facets["shard"].add_constant(shard, n)
        if "width" in t.column_names and "height" in t.column_names:
            t = t.append_column("canvas", pc.binary_join_element_wise(
                t["width"].cast(pa.string()), t["height"].cast(pa.string()), "x"))
        for col in ROW_FACETS:
            self.facets[col].add(t[col].combine_chunks() if col in t.column_names else pa.nulls(n, pa.string()))
        # the image member is KEY.EXT (webdataset): keep only EXT (null when it is not)
        image, keys = t["image"].combine_chunks(), t["key"].combine_chunks()
        ext = pc.struct_field(pc.extract_regex(image, r"\.(?P<ext>[A-Za-z0-9]+)$"), [0])
        same = pc.fill_null(pc.equal(image, pc.binary_join_element_wise(keys, ext, ".")), False)
        self.facets["ext"].add(pc.if_else(same, ext, pa.scalar(None, pa.string())))
        self._keys.append(keys.cast(pa.string()))
        self._texts.append(t["text"].combine_chunks().cast(pa.string()) if "text" in t.column_names
                           else pa.nulls(n, pa.string()))
        for col, typ in NUMBERS.items():
            arr = t[col].combine_chunks() if col in t.column_names else pa.nulls(n, pa.float64())
            fill = -1 if np.issubdtype(typ, np.integer) else np.nan
            self._numbers[col].append(pc.fill_null(arr.cast(pa.float64()), fill).to_numpy().astype(typ))
        for col in t.column_names:
            if col.startswith("score_") and (pa.types.is_integer(t[col].type) or pa.types.is_floating(t[col].type)):
                parts = self._scores.setdefault(col, [np.full(start, np.nan, np.float32)])
                parts.append(pc.fill_null(t[col].combine_chunks().cast(pa.float64()), np.nan)
                             .to_numpy().astype(np.float32))
        for col, parts in self._scores.items():
            if sum(len(p) for p in parts) < start + n:  # this shard has no such score
                parts.append(np.full(n, np.nan, np.float32))
        self.font_values.add(pc.list_flatten(fonts))
        self._font_rows.append(pc.list_parent_indices(fonts).to_numpy().astype(np.int32) + start)
        self.spans[(dataset, shard)] = (start, start + n)
        self.num_rows += n

    # ------------------------------------------------------------------ lookups

    def row_at(self, i: int) -> dict:
        """Row ``i`` as a dict (the listing columns, the image member name, scores)."""
        ext = self.facets["ext"].codes[i]
        key = self._str(self.keys, i)
        shard = self.facets["shard"].values[self.facets["shard"].codes[i]]
        if ext < 0:  # the image member does not follow KEY.EXT: read it from the index
            ds = self.datasets[self.facets["dataset"].values[self.facets["dataset"].codes[i]]]
            t = _read_parquet(ds.root, f"{ds.index_dir}/{shard}.parquet", ["key", "image"])
            image = t["image"][pc.index(t["key"], key).as_py()].as_py()
        else:
            image = f"{key}.{self.facets['ext'].values[ext]}"
        row = {"key": key, "image": image, "text": self._str(self.texts, i),
               **{f: self._value(f, i) for f in ("dataset", "shard", *ROW_FACETS)},
               **{k: _num(a[i]) for k, a in self.numbers.items()},
               **{k: _num(a[i]) for k, a in self.scores.items()}}
        row["fonts"] = [self.font_values.values[c] for c in self.font_values.codes[self.font_rows == i]]
        return row

    def _value(self, facet: str, i: int) -> str | None:
        c = self.facets[facet].codes[i]
        return None if c < 0 else self.facets[facet].values[c]

    def row(self, dataset: str, shard: str, key: str) -> dict | None:
        span = self.spans.get((dataset, shard))
        if span is None:
            return None
        i = pc.index(self.keys.slice(span[0], span[1] - span[0]), key).as_py()
        return None if i < 0 else self.row_at(span[0] + i)

    def row_by_key(self, dataset: str, key: str) -> dict | None:
        """The first row of ``dataset`` with ``key``, searching its shards in order."""
        for d, shard in self.spans:
            row = self.row(d, shard, key) if d == dataset else None
            if row is not None:
                return row
        return None

    def rows_of(self, dataset: str) -> int:
        return sum(b - a for (d, _), (a, b) in self.spans.items() if d == dataset)

    @property
    def score_columns(self) -> list[str]:
        return list(self.scores)

    # ------------------------------------------------------------------ queries

    def _masks(self, params: dict) -> dict[str, np.ndarray]:
        """One boolean mask per active filter, keyed by the parameter that set it."""
        masks = {}
        for col in ("dataset", *ROW_FACETS):
            if params.get(col):
                masks[col] = self.facets[col].mask(params[col])
        if params.get("font"):
            m = np.zeros(self.num_rows, bool)
            m[self.font_rows[self.font_values.mask(params["font"])]] = True
            masks["font"] = m
        if params.get("q"):
            hit = pc.match_substring(self.texts, params["q"][0], ignore_case=True)
            masks["q"] = np.asarray(pc.fill_null(hit, False).to_numpy(), bool)
        for name, (lo, hi) in (params.get("scores") or {}).items():
            if name not in self.scores:
                raise QueryError(f"unknown score {name[6:]!r}; this catalog has "
                                 f"{[c[6:] for c in self.scores]}")
            v = self.scores[name]
            with np.errstate(invalid="ignore"):  # NaN (no score) compares False: filtered out
                masks[f"score:{name}"] = ((v >= lo) if lo is not None else ~np.isnan(v)) & \
                                         ((v <= hi) if hi is not None else True)
        return masks

    def _and(self, masks) -> np.ndarray:
        out = np.ones(self.num_rows, bool)
        for m in masks:
            out &= m
        return out

    def query(self, params: dict, page: int = 0, per_page: int = 60) -> dict:
        """Filtered rows: total, one page of items, and faceted counts."""
        if per_page < 1 or per_page > MAX_PER_PAGE or page < 0:
            raise QueryError(f"page must be >= 0 and per_page 1..{MAX_PER_PAGE}")
        masks = self._masks(params)
        rows = np.flatnonzero(self._and(masks.values()))
        page_rows = rows[page * per_page:(page + 1) * per_page]
        items = [{"key": self._str(self.keys, i), "text": (self._str(self.texts, i) or "")[:200],
                  **{c: _num(self.numbers[c][i]) for c in ("char_px", "width", "height")},
                  **{f: self._value(f, i) for f in ("dataset", "shard", *ROW_FACETS)}}
                 for i in page_rows.tolist()]
        counts = {f: self._facet_counts(f, self._and(m for k, m in masks.items() if k != f))
                  for f in FACETS}
        return {"total": int(len(rows)), "page": page, "per_page": per_page, "items": items,
                "counts": counts}

    def _facet_counts(self, facet: str, mask: np.ndarray) -> dict[str, int]:
        if facet == "font":
            return self.font_values.counts(mask[self.font_rows])
        return self.facets[facet].counts(mask)

    def score_ranges(self) -> dict[str, list[float]]:
        return {c[6:]: [float(np.nanmin(v)), float(np.nanmax(v))]
                for c, v in self.scores.items() if not np.isnan(v).all()}

    def stats(self, dataset: str, examples: int = 4) -> dict:
        """Counts by lang, size bucket, font and source; rejects by reason with examples."""
        ds = self.datasets[dataset]
        mask = self.facets["dataset"].mask([dataset])
        out = {"dataset": ds.summary(int(mask.sum())),
               "counts": {f: self._facet_counts(f, mask) for f in FACETS if f != "dataset"},
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


def _num(v: np.generic) -> float | int | None:
    """A numpy scalar as JSON-friendly Python; the fill values (-1 for ints, NaN) as None."""
    if np.issubdtype(type(v), np.integer):
        return None if v == -1 else int(v)
    return None if v != v else round(float(v), 4)
