// textsynth gallery: one page, two backends with the same interface.
// LiveBackend talks to `textsynth gallery` (server-side filtering over the parquet indexes);
// StaticBackend serves an exported gallery from the data embedded in the page.
"use strict";

const FACETS = ["dataset", "source", "lang", "size_bucket", "template", "canvas", "font"];
const PER_PAGE = 60;

// ------------------------------------------------------------------ backends

async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function queryString(state, extra = {}) {
  const p = new URLSearchParams();
  for (const f of FACETS) for (const v of state.facets[f] || []) p.append(f, v);
  if (state.q) p.set("q", state.q);
  for (const [name, [lo, hi]] of Object.entries(state.scores))
    if (lo !== "" || hi !== "") p.set("score_" + name, `${lo}:${hi}`);
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p.toString();
}

// Without a shard (a #sample=DATASET/KEY link names none) the server looks the key up.
const itemParams = (it) => new URLSearchParams({dataset: it.dataset, key: it.key, ...(it.shard ? {shard: it.shard} : {})}).toString();

const LiveBackend = {
  datasets: () => getJSON("/api/datasets"),
  query: (state, perPage = PER_PAGE) => getJSON("/api/query?" + queryString(state, {page: state.page, per_page: perPage})),
  sample: (it) => getJSON("/api/sample?" + itemParams(it)),
  imageUrl: (it) => "/api/image?" + itemParams(it),
  stats: (name) => getJSON("/api/stats?dataset=" + encodeURIComponent(name)),
  rejectUrl: (name, ex) => "/api/reject-image?" + new URLSearchParams({dataset: name, shard: ex.shard, image: ex.image}),
};

function StaticBackend(data) {
  // data = {datasets, score_ranges, samples: [{row, meta, image}], stats: {name: stats}}
  const rows = data.samples.map((s) => s.row);
  const matches = (r, state, skip) => {
    for (const f of FACETS) {
      if (f === skip || !(state.facets[f] || []).length) continue;
      const have = f === "font" ? (r.fonts || []) : [r[f]];
      if (!have.some((v) => state.facets[f].includes(v))) return false;
    }
    if (state.q && !(r.text || "").toLowerCase().includes(state.q.toLowerCase())) return false;
    for (const [name, [lo, hi]] of Object.entries(state.scores)) {
      const v = r["score_" + name];
      if ((lo !== "" || hi !== "") && (v == null || (lo !== "" && v < +lo) || (hi !== "" && v > +hi))) return false;
    }
    return true;
  };
  const byKey = new Map(data.samples.map((s) => [s.row.dataset + "/" + s.row.key, s]));
  return {
    datasets: async () => data,
    query: async (state, perPage = PER_PAGE) => {
      const hits = rows.filter((r) => matches(r, state));
      const counts = {};
      for (const f of FACETS) {
        counts[f] = {};
        for (const r of rows.filter((r) => matches(r, state, f)))
          for (const v of (f === "font" ? r.fonts || [] : [r[f]])) if (v != null) counts[f][v] = (counts[f][v] || 0) + 1;
      }
      return {total: hits.length, items: hits.slice(state.page * perPage, (state.page + 1) * perPage), counts};
    },
    sample: async (it) => {
      const s = byKey.get(it.dataset + "/" + it.key);
      if (!s) throw new Error(`no sample '${it.key}' in ${it.dataset} (this page holds a few samples only)`);
      return s;
    },
    imageUrl: (it) => byKey.get(it.dataset + "/" + it.key).image,
    stats: async (name) => data.stats[name],
    rejectUrl: (name, ex) => ex.data,
  };
}

// An exported page carries its data as JSON in <script type="application/json" id="gallery-data">:
// read as text and parsed, never run.
const staticData = document.getElementById("gallery-data");
const backend = staticData ? StaticBackend(JSON.parse(staticData.textContent)) : LiveBackend;

// ------------------------------------------------------------------ state

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};

const state = {facets: {}, q: "", scores: {}, page: 0, sample: ""};  // sample: the open detail, DATASET/KEY
let scoreRanges = {};

function stateFromHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  for (const f of FACETS) state.facets[f] = p.getAll(f);
  state.q = p.get("q") || "";
  state.page = +(p.get("page") || 0);
  state.scores = {};
  for (const [k, v] of p) if (k.startsWith("score_")) state.scores[k.slice(6)] = v.split(":");
  state.sample = p.get("sample") || "";
}

// The URL holds the filters, the page and the open detail, so any view can be shared or bookmarked.
function hashUrl() {
  const extra = {...(state.page ? {page: state.page} : {}), ...(state.sample ? {sample: state.sample} : {})};
  return "#" + queryString(state, extra).replace(/%2F/g, "/");  // sample=DATASET/KEY stays readable
}

function saveHash() {
  history.replaceState(history.state, "", hashUrl());  // history.state: whether a detail pushed this entry
}

// ------------------------------------------------------------------ browse

async function refresh() {
  saveHash();
  let res;
  try {
    res = await backend.query(state);
  } catch (e) {
    $("#total").textContent = "query failed: " + e.message;
    return;
  }
  renderFacets(res.counts);
  $("#total").textContent = `${res.total.toLocaleString()} samples`;
  const pages = Math.max(1, Math.ceil(res.total / PER_PAGE));
  $("#pageinfo").textContent = `page ${state.page + 1} / ${pages}`;
  $("#prev").disabled = state.page === 0;
  $("#next").disabled = state.page + 1 >= pages;
  const grid = $("#grid");
  grid.replaceChildren(...res.items.map((it) => el("div", {class: "card", "data-testid": "card", "data-key": it.key, "data-lang": it.lang || "", onclick: () => openDetail(it)},
    el("img", {src: backend.imageUrl(it), loading: "lazy", alt: it.key}),
    el("div", {class: "cap", title: it.text || ""},
      el("span", {class: "tag"}, it.lang || "?"), el("span", {class: "tag"}, it.size_bucket || "-"),
      ...(it.template && it.template !== "blocks" ? [el("span", {class: "tag"}, it.template)] : []),
      (it.text || "").replace(/\s+/g, " ")))));
}

function renderFacets(counts) {
  const box = $("#facets");
  box.replaceChildren();
  for (const f of FACETS) {
    const chosen = state.facets[f] || [];
    const values = Object.keys(counts[f] || {});
    for (const v of chosen) if (!values.includes(v)) values.push(v);
    if (f === "size_bucket") values.sort((a, b) => parseInt(a) - parseInt(b));  // 5-8 before 9-12
    if (!values.length) continue;
    box.append(el("h4", {}, f.replace("_", " ")));
    for (const v of values) {
      const cb = el("input", {type: "checkbox", "data-facet": f, value: v, "data-testid": `facet-${f}-${v}`});
      cb.checked = chosen.includes(v);
      cb.addEventListener("change", () => {
        state.facets[f] = cb.checked ? [...chosen, v] : chosen.filter((x) => x !== v);
        state.page = 0;
        refresh();
      });
      box.append(el("label", {}, el("span", {}, cb, " " + v), el("span", {class: "n", "data-testid": `count-${f}-${v}`}, String((counts[f] || {})[v] || 0))));
    }
  }
}

function renderScoreFilters() {
  const box = $("#scores");
  box.replaceChildren();
  for (const [name, [min, max]] of Object.entries(scoreRanges)) {
    const [lo, hi] = state.scores[name] || ["", ""];
    const input = (which, val, ph) => {
      const i = el("input", {type: "number", step: "any", placeholder: ph, "data-testid": `score-${name}-${which}`});
      i.value = val;
      i.addEventListener("change", () => {
        const cur = state.scores[name] || ["", ""];
        cur[which === "min" ? 0 : 1] = i.value;
        state.scores[name] = cur;
        state.page = 0;
        refresh();
      });
      return i;
    };
    box.append(el("h4", {}, name.replace(/_/g, " ")),
      el("div", {class: "range"}, input("min", lo, (+min.toPrecision(3)).toString()), input("max", hi, (+max.toPrecision(3)).toString())));
  }
}

// ------------------------------------------------------------------ detail

let zoom = 2, current = null;
const sampleId = (it) => `${it.dataset}/${it.key}`;

// A click adds a history entry (Back closes the detail, Forward reopens it); a detail the URL
// already names (a shared link, Back/Forward) does not.
async function openDetail(it, {push = true} = {}) {
  state.sample = sampleId(it);
  if (push) history.pushState({detail: true}, "", hashUrl()); else saveHash();
  $("#detail").hidden = false;
  $("#d-key").textContent = `${it.dataset} / ${it.key}`;
  $("#d-text").textContent = "";
  $("#d-meta").textContent = "loading…";
  $("#d-svg").replaceChildren();
  const img = $("#d-img");
  img.removeAttribute("src");  // set from the sample's row: a link names no shard, and may name no sample
  current = null;
  let s;
  try {
    s = await backend.sample(it);
  } catch (e) {
    if (state.sample === sampleId(it)) $("#d-meta").textContent = `cannot open ${sampleId(it)}: ${e.message}`;
    return;
  }
  if (state.sample !== sampleId(it)) return;  // closed, or another opened, meanwhile
  current = s;
  img.onload = () => layoutStage();
  img.src = backend.imageUrl(current.row);
  $("#d-text").textContent = current.meta.text || "";
  $("#d-meta").textContent = JSON.stringify(current.meta, null, 1);
  layoutStage();
}

// Closing goes back over the entry the click pushed (so Forward reopens it); a detail the page
// was loaded with has no such entry, so its sample is just dropped from the URL.
function closeDetail() {
  if ($("#detail").hidden) return;
  if (history.state && history.state.detail) { history.back(); return; }  // popstate hides it
  hideDetail();
  saveHash();
}

function hideDetail() {
  $("#detail").hidden = true;
  state.sample = "";
}

// The detail the URL names: opened (fetched by key, wherever it is in the results), or closed.
function showDetailOfUrl() {
  const id = state.sample, cut = id.indexOf("/");
  if (!id) return hideDetail();
  if (!$("#detail").hidden && current && sampleId(current.row) === id) return;  // already open
  if (cut > 0) return openDetail({dataset: id.slice(0, cut), key: id.slice(cut + 1)}, {push: false});
  $("#detail").hidden = false;
  $("#d-key").textContent = id;
  $("#d-text").textContent = "";
  $("#d-svg").replaceChildren();
  $("#d-img").removeAttribute("src");
  $("#d-meta").textContent = `cannot open ${id}: a sample link is #sample=DATASET/KEY`;
}

// Back / Forward: show what the URL names, filters and detail both.
function onPopState() {
  const filters = queryString(state, {page: state.page});
  stateFromHash();
  if (queryString(state, {page: state.page}) !== filters) {
    $("#search").value = state.q;
    renderScoreFilters();
    refresh();
  }
  showDetailOfUrl();
}

function layoutStage() {
  const img = $("#d-img"), svg = $("#d-svg");
  const w = img.naturalWidth, h = img.naturalHeight;
  if (!w) return;
  img.style.width = w * zoom + "px";
  img.style.height = h * zoom + "px";
  svg.setAttribute("width", w * zoom);
  svg.setAttribute("height", h * zoom);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  // a label's outline: its polygon (curved lines), else its quad, else its box
  const outline = (o) => o.poly || o.quad ||
    [o.bbox[0], o.bbox[1], o.bbox[2], o.bbox[1], o.bbox[2], o.bbox[3], o.bbox[0], o.bbox[3]];
  const shapes = [];
  const lines = (current && current.meta.lines) || [];
  if ($("#d-boxes").checked) for (const ln of lines) shapes.push(["line", outline(ln)]);
  if ($("#d-chars").checked) for (const ln of lines) for (const c of ln.chars || []) shapes.push(["char", outline(c)]);
  svg.replaceChildren(...shapes.map(([cls, pts]) => {
    const r = document.createElementNS("http://www.w3.org/2000/svg", "polygon");
    r.setAttribute("class", cls);
    r.setAttribute("points", pts.join(" "));
    return r;
  }));
  $("#d-chars").disabled = !lines.some((ln) => ln.chars);
}

// ------------------------------------------------------------------ stats

async function renderStats(datasets) {
  const main = $("#stats");
  main.replaceChildren();
  for (const d of datasets) {
    const card = el("div", {class: "ds", "data-testid": `stats-${d.name}`}, el("h2", {}, d.name));
    main.append(card);
    for (const e of d.errors) card.append(el("div", {class: "err"}, e));
    let s;
    try { s = await backend.stats(d.name); } catch (e) { card.append(el("div", {class: "err"}, e.message)); continue; }
    if (!s) continue;
    card.append(el("div", {}, `${s.dataset.rows.toLocaleString()} samples in ${s.dataset.shards} shards`));
    const empty = d.empty_shards || [];
    if (empty.length) card.append(el("div", {"data-testid": "empty-shards"},
      `${empty.length} empty shard(s), every sample skipped (see job stats): ${empty.join(", ")}`));
    if (s.job_stats) card.append(el("details", {}, el("summary", {}, "job stats.json"), el("pre", {}, JSON.stringify(s.job_stats, null, 1))));
    for (const [f, counts] of Object.entries(s.counts)) {
      if (!Object.keys(counts).length) continue;
      card.append(el("h4", {}, f.replace("_", " ")),
        el("table", {}, ...Object.entries(counts).map(([v, n]) => el("tr", {}, el("td", {}, v), el("td", {class: "n"}, String(n))))));
    }
    const reasons = Object.entries(s.rejects || {});
    if (reasons.length) {
      card.append(el("h3", {}, "Rejects by reason"));
      for (const [reason, r] of reasons) {
        card.append(el("div", {"data-testid": `reject-${reason}`}, el("strong", {}, reason), ` ${r.count}`),
          el("div", {class: "examples"}, ...r.examples.map((ex) => el("img", {src: backend.rejectUrl(d.name, ex), title: `${ex.key}: ${ex.detail || ""}`, alt: reason}))));
      }
    }
  }
}

// ------------------------------------------------------------------ review
// The report's last bench stage: a person marks each sample keep / blurred / redundant /
// blank. Decisions live in localStorage (per dataset and bench_id) and leave as a downloaded
// file for `textsynth bench prune`; the server is never written to.

const DECISION_KEYS = {k: "keep", b: "blurred", r: "redundant", n: "blank"};
const REVIEW_PAGE = 500;  // the server's largest page: listing a bench takes few requests
const review = {dataset: null, benchId: null, items: [], i: 0, decisions: {}};
// Per dataset name and bench_id: a bench rebuilt under the same name reuses its keys
// (bench-000000-000007 ...), and old decisions must not carry over to new images.
const storageKey = () => "textsynth-review:" + review.dataset + (review.benchId ? "@" + review.benchId : "");

async function startReview() {
  review.dataset = null;  // no keys, no download until this set is loaded (and is one dataset)
  $("#r-body").hidden = true;
  $("#r-message").textContent = "loading…";
  const items = [];
  try {
    for (let page = 0; ; page++) {  // every sample of the current filters, in order
      const res = await backend.query({...state, page}, REVIEW_PAGE);
      items.push(...res.items);
      if (!res.items.length || items.length >= res.total) break;
    }
  } catch (e) {
    $("#r-message").textContent = "cannot list the samples to review: " + e.message;
    return;
  }
  const names = [...new Set(items.map((it) => it.dataset))];
  if (names.length !== 1) {
    $("#r-message").textContent = names.length ? `The current filters span ${names.length} datasets (${names.join(", ")}): ` +
      "tick one in the dataset facet on the Browse tab, then come back." : "No sample matches the current filters.";
    return;
  }
  const stats = await backend.stats(names[0]).catch(() => null);
  Object.assign(review, {dataset: names[0], items, i: 0, benchId: (stats && stats.job_stats && stats.job_stats.bench_id) || null});
  review.decisions = JSON.parse(localStorage.getItem(storageKey()) || "{}");
  const first = items.findIndex((it) => !(it.key in review.decisions));
  review.i = first < 0 ? 0 : first;  // resume at the first undecided sample
  $("#r-message").textContent = review.benchId ? "" : "This dataset has no bench_id (not built by `textsynth bench build`): " +
    "prune will check decisions by sample key only.";
  $("#r-title").textContent = `Reviewing ${review.dataset}`;
  $("#r-body").hidden = false;
  showReview();
}

function showReview() {
  const it = review.items[review.i];
  if (!it) return;
  const d = review.decisions[it.key];
  $("#r-key").textContent = `${review.i + 1} / ${review.items.length} · ${it.key}`;
  $("#r-decision").textContent = d || "undecided";
  $("#r-decision").className = "decision " + (d || "");
  const img = $("#r-img");
  img.onload = () => { img.style.width = img.naturalWidth * 2 + "px"; img.style.height = img.naturalHeight * 2 + "px"; };
  img.src = backend.imageUrl(it);
  $("#r-text").textContent = it.text || "";  // the listing's first 200 characters, until the sample comes
  $("#r-origin").textContent = "";
  backend.sample(it).then((s) => {
    if (review.items[review.i] !== it) return;  // moved on meanwhile
    $("#r-text").textContent = s.meta.text || "";
    $("#r-origin").textContent = JSON.stringify(s.meta.origin || {}, null, 1);
  });
  const counts = {};
  for (const v of Object.values(review.decisions)) counts[v] = (counts[v] || 0) + 1;
  $("#r-progress").textContent = `${Object.keys(review.decisions).length} / ${review.items.length} reviewed · ` +
    Object.values(DECISION_KEYS).map((k) => `${k} ${counts[k] || 0}`).join(" · ");
}

function decide(decision) {
  const it = review.items[review.i];
  if (!it) return;
  review.decisions[it.key] = decision;
  localStorage.setItem(storageKey(), JSON.stringify(review.decisions));
  if (review.i + 1 < review.items.length) review.i++;
  showReview();
}

function downloadDecisions() {
  if (!review.dataset) return;
  const counts = {};
  for (const v of Object.values(review.decisions)) counts[v] = (counts[v] || 0) + 1;
  const doc = {format: "textsynth-review/1", dataset: review.dataset, bench_id: review.benchId,
               decisions: review.decisions, counts, samples: review.items.length, saved_at: new Date().toISOString()};
  const a = el("a", {href: URL.createObjectURL(new Blob([JSON.stringify(doc, null, 1)], {type: "application/json"})),
                     download: `${review.dataset}-review.json`});
  document.body.append(a);
  a.click();
  a.remove();
}

function reviewKey(e) {
  if ($("#review").hidden || !review.dataset || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key in DECISION_KEYS) decide(DECISION_KEYS[e.key]);
  else if (e.key === "ArrowRight" && review.i + 1 < review.items.length) { review.i++; showReview(); }
  else if (e.key === "ArrowLeft" && review.i > 0) { review.i--; showReview(); }
  else return;
  e.preventDefault();
}

// ------------------------------------------------------------------ wiring

async function main() {
  stateFromHash();
  let info;
  try {
    info = await backend.datasets();
  } catch (e) {
    $("#errors").append(el("div", {}, "cannot load datasets: " + e.message));
    return;
  }
  scoreRanges = info.score_ranges || {};
  $("#summary").textContent = `${info.datasets.length} dataset(s), ${(info.total || 0).toLocaleString()} samples`;
  for (const d of info.datasets) for (const e of d.errors) $("#errors").append(el("div", {"data-testid": "dataset-error"}, `${d.name}: ${e}`));
  $("#search").value = state.q;
  let timer;
  $("#search").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.q = $("#search").value.trim(); state.page = 0; refresh(); }, 250);
  });
  $("#reset").onclick = () => { state.facets = {}; state.q = ""; state.scores = {}; state.page = 0; $("#search").value = ""; renderScoreFilters(); refresh(); };
  $("#prev").onclick = () => { state.page--; refresh(); };
  $("#next").onclick = () => { state.page++; refresh(); };
  $("#d-close").onclick = closeDetail;
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDetail(); });
  window.addEventListener("popstate", onPopState);
  for (const b of document.querySelectorAll("[data-zoom]")) b.onclick = () => {
    zoom = +b.dataset.zoom;
    document.querySelectorAll("[data-zoom]").forEach((x) => x.classList.toggle("active", x === b));
    layoutStage();
  };
  $("#d-boxes").onchange = layoutStage;
  $("#d-chars").onchange = layoutStage;
  let statsDone = false;
  for (const t of document.querySelectorAll(".tab")) t.onclick = () => {
    document.querySelectorAll(".tab").forEach((x) => x.classList.toggle("active", x === t));
    for (const tab of ["browse", "stats", "review"]) $("#" + tab).hidden = t.dataset.tab !== tab;
    if (t.dataset.tab === "stats" && !statsDone) { statsDone = true; renderStats(info.datasets); }
    if (t.dataset.tab === "review") startReview();  // the current filters choose what to review
  };
  document.addEventListener("keydown", reviewKey);
  for (const b of document.querySelectorAll("[data-decide]")) b.onclick = () => decide(b.dataset.decide);
  $("#r-download").onclick = downloadDecisions;
  $("#r-clear").onclick = () => {
    if (!review.dataset || !confirm(`Forget all ${Object.keys(review.decisions).length} decisions on ${review.dataset}?`)) return;
    review.decisions = {};
    localStorage.removeItem(storageKey());
    showReview();
  };
  renderScoreFilters();
  refresh();
  showDetailOfUrl();  // a shared or bookmarked link opens its sample
}

main();
