"""Validation (issue 25): every value of every config and JSON file textsynth reads is checked
before any work starts, and the message names the key.

NaN and infinities (YAML ``.nan``/``.inf``, JSON ``NaN``/``Infinity``/``1e999``) pass every
range check written as ``v < lo or v > hi``, so they are refused on their own; so are wrong
types (a bool where a number goes: Python's bool is an int), out-of-range values, unknown
choices and reversed ``[min, max]`` ranges.

The table runs the real CLI (``textsynth.cli.main``, in this process: a refused value costs no
Ray, no model, no OCR) and asserts exit code 2, the key in the message, no traceback, and no
``--out`` created. A few rows run as a subprocess too. The completeness tests walk every key
of each config's DEFAULTS, so a key added without a check fails here.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from textsynth import cli, paths
from textsynth.config import ConfigError, load_config, read_json

BIN = Path(sys.executable).parent
SYNTH_ARGS = ["--num-samples", "1", "--samples-per-shard", "1", "--quiet"]
GOOD_EVAL = {"bench": "bench", "overall": {"n": 4, "ned": 0.3},
             "by_size_bucket": {"5-8": {"n": 2, "ned": 0.5}, "9-12": {"n": 2, "ned": 0.1}}}


def _nested(key: str, value) -> dict:
    """``"a.b.c", v`` -> ``{"a": {"b": {"c": v}}}``."""
    out: dict = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def _argv(kind: str, key: str, value: str, tmp: Path, out: Path) -> list[str]:
    """The command line of one case: ``value`` is YAML for ``--set`` / a config file, or JSON
    text for the files ``mix suggest`` and ``bench prune`` read."""
    if kind == "synth":
        return ["synth", "--set", f"{key}={value}", "--out", str(out), *SYNTH_ARGS]
    if kind == "synth-file":
        cfg = tmp / "bad.yaml"
        cfg.write_text(value)
        return ["synth", "--config", str(cfg), "--out", str(out), *SYNTH_ARGS]
    if kind == "curate":           # a config file, as a user writes one
        cfg = tmp / "bad.yaml"
        cfg.write_text(yaml.safe_dump(_nested(key, yaml.safe_load(value))))
        return ["curate", "--config", str(cfg), "--input", str(tmp), "--out", str(out), "--quiet"]
    if kind == "train":
        return ["train", "--config", "vae_tiny_cpu.yaml", "--set", f"{key}={value}", "--out", str(out),
                "--quiet"]
    if kind == "experiment":
        return ["experiment", "--config", "ablation_cpu.yaml", "--set", f"{key}={value}", "--out", str(out)]
    if kind in ("mix", "mix-arg"):
        ev = tmp / "eval"
        ev.mkdir()
        (ev / "metrics.json").write_text(value if kind == "mix" else json.dumps(GOOD_EVAL))
        extra = [key, value] if kind == "mix-arg" else []
        return ["mix", "suggest", "--eval", str(ev), "--config", "synth_en_zh.yaml",
                "--out", str(out / "next.yaml"), *extra]
    if kind == "prune":
        decisions = tmp / "decisions.json"
        decisions.write_text(value)
        return ["bench", "prune", "--bench", str(tmp / "bench"), "--decisions", str(decisions),
                "--out", str(out)]
    raise AssertionError(kind)


NAN, INF, NINF = ".nan", ".inf", "-.inf"
DECISIONS = '{"format": "textsynth-review/1", "decisions": {"bench-000000-000001": "blank"}'

# (kind, key, bad value, fragment of the message); the fragment names the key.
CASES = [
    # ---- synth: the examples, then every kind of defect
    ("synth", "color.min_contrast", NAN, "'color.min_contrast' must be a finite number"),
    ("synth", "color.min_contrast", INF, "'color.min_contrast' must be a finite number"),
    ("synth", "color.min_contrast", NINF, "'color.min_contrast' must be a finite number"),
    ("synth", "color.min_contrast", "0.5", "'color.min_contrast' must be in [1, 21]"),
    ("synth", "output.min_yield", NAN, "'output.min_yield' must be a finite number"),
    ("synth", "output.min_yield", INF, "'output.min_yield' must be a finite number"),
    ("synth", "output.min_yield", "1.5", "'output.min_yield' must be in [0, 1]"),
    ("synth", "text.lang_probs", "{en: .nan, zh: 1}", "'text.lang_probs.en' must be a finite number"),
    ("synth", "text.lang_probs", "{en: .inf}", "'text.lang_probs.en' must be a finite number"),
    ("synth", "text.lang_probs", "{en: -1, zh: 2}", "'text.lang_probs.en' must be in"),
    ("synth", "text.lang_probs", "{en: 0, zh: 0}", "text.lang_probs must give some choice"),
    ("synth", "text.lang_probs", "{fr: 1}", "text.lang_probs: unknown choice 'fr'"),
    ("synth", "text.lang_probs", "{en: true}", "'text.lang_probs.en' must be a number"),
    ("synth", "text.sample_lang_probs", "{en: .nan, zh: 1}", "'text.sample_lang_probs.en' must be a finite number"),
    ("synth", "text.sample_lang_probs", "{fr: 1}", "text.sample_lang_probs: unknown choice 'fr'"),
    ("synth", "layout.line_spacing", "[1.0, .nan]", "'layout.line_spacing[1]' must be a finite number"),
    ("synth", "layout.line_spacing", "[-.inf, 1.0]", "'layout.line_spacing[0]' must be a finite number"),
    ("synth", "layout.line_spacing", "[1.5, 1.0]", "'layout.line_spacing' must be [min, max] with min <= max"),
    ("synth", "layout.lines", "[8, 2]", "'layout.lines' must be [min, max] with min <= max"),
    ("synth", "color.bg_percentiles", "[90, 10]", "'color.bg_percentiles' must be [min, max]"),
    ("synth", "size.bucket_probs", "{5-8: .nan, 9-12: 1}", "'size.bucket_probs.5-8' must be a finite number"),
    ("synth", "canvas.sizes", "{256x256: -.inf}", "'canvas.sizes.256x256' must be a finite number"),
    ("synth", "layout.template_probs", "{blocks: .inf}", "'layout.template_probs.blocks' must be a finite"),
    ("synth", "background.min_crop_frac", NAN, "'background.min_crop_frac' must be a finite number"),
    ("synth", "canvas.width", "true", "'canvas.width' must be a number"),
    ("synth", "canvas.width", "256.5", "'canvas.width' must be an integer"),
    ("synth", "seed", "-1", "'seed' must be in"),
    ("synth", "seed", str(2 ** 63), "'seed' must be in"),
    ("synth", "output.jpeg_quality", "101", "'output.jpeg_quality' must be in [1, 100]"),
    ("synth", "output.jpeg_quality", NAN, "'output.jpeg_quality' must be a finite number"),
    ("synth", "output.char_boxes", "1", "'output.char_boxes' must be true/false"),
    ("synth", "output.char_boxes", '"true"', "'output.char_boxes' must be true/false"),
    ("synth", "output.format", "gif", "'output.format' must be png, jpg or webp"),
    ("synth", "output.png_encoder", "7", "'output.png_encoder' must be a string"),
    ("synth", "background.mode", "no", "'background.mode' must be a string"),     # YAML's `no` is false
    ("synth", "background.dirs", "[1, 2]", "'background.dirs[0]' must be a string"),
    ("synth", "fonts.exclude", "[.nan]", "'fonts.exclude[0]' must be a finite number"),
    ("synth", "color.tries", "1000000", "'color.tries' must be in [1, 1000]"),
    ("synth", "size.buckets", "{5: [5, 8]}", "'size.buckets': name 5 must be a string"),
    ("synth-file", "", "color: {min_contrast: .nan}\n", "'color.min_contrast' must be a finite number"),
    ("synth-file", "", "canvas: &a {width: 64}\nbackground: *a\n", "aliases (*name) are not allowed"),
    ("synth-file", "", "[" * 20000, "is not valid YAML"),
    # ---- curate: a config file (the keys that used to fail inside Ray workers)
    ("curate", "ingest.pdf_pages", "5", "'ingest.pdf_pages' must be a string"),
    ("curate", "ingest.pdf_pages", "1-x", "'ingest.pdf_pages' must be page ranges"),
    ("curate", "ingest.pdf_pages", "9-3", "'ingest.pdf_pages': range '9-3'"),
    ("curate", "ingest.pdf_pages", "'0'", "'ingest.pdf_pages': range '0'"),
    ("curate", "ingest.pdf_pages", "1-99999999999", "'ingest.pdf_pages' must be page ranges"),
    ("curate", "ingest.pdf_dpi", NAN, "'ingest.pdf_dpi' must be a finite number"),
    ("curate", "ingest.pdf_dpi", "0", "'ingest.pdf_dpi' must be in [1, 1200]"),
    ("curate", "ingest.pdf_dpi", "'96'", "'ingest.pdf_dpi' must be a number"),
    ("curate", "output.jpeg_quality", "0", "'output.jpeg_quality' must be in [1, 100]"),
    ("curate", "output.jpeg_quality", INF, "'output.jpeg_quality' must be a finite number"),
    ("curate", "output.jpeg_quality", "true", "'output.jpeg_quality' must be a number"),
    ("curate", "output.jpeg_quality", "95.5", "'output.jpeg_quality' must be an integer"),
    ("curate", "output.format", "bmp", "'output.format' must be png, jpg or webp"),
    ("curate", "output.reject_examples_per_reason", "-1", "'output.reject_examples_per_reason' must be in"),
    ("curate", "ingest.html_width", "0", "'ingest.html_width' must be in"),
    ("curate", "ingest.html_timeout_s", INF, "'ingest.html_timeout_s' must be a finite number"),
    ("curate", "ingest.html_timeout_s", "0", "'ingest.html_timeout_s' must be in (0, 3600]"),
    ("curate", "ingest.url_timeout_s", NAN, "'ingest.url_timeout_s' must be a finite number"),
    ("curate", "ingest.max_image_pixels", "-1", "'ingest.max_image_pixels' must be in"),
    ("curate", "ingest.files_per_partition", "0", "'ingest.files_per_partition' must be in"),
    ("curate", "ingest.category_field", "5", "'ingest.category_field' must be a string"),
    ("curate", "crop.sizes", "[true]", "'crop.sizes[0]' must be an integer"),
    ("curate", "crop.sizes", "[16]", "'crop.sizes[0]' must be in [32, 4096]"),
    ("curate", "crop.sizes", "[]", "'crop.sizes' must hold at least 1 item"),
    ("curate", "crop.stride_frac", NAN, "'crop.stride_frac' must be a finite number"),
    ("curate", "crop.mode", "grid", "'crop.mode' must be tiles or whole"),
    ("curate", "clarity.min_sharpness", NAN, "'clarity.min_sharpness' must be a finite number"),
    ("curate", "clarity.min_tenengrad", "-1", "'clarity.min_tenengrad' must be in"),
    ("curate", "clarity.max_blockiness", INF, "'clarity.max_blockiness' must be a finite number"),
    ("curate", "clarity.after_detection", "1", "'clarity.after_detection' must be true/false"),
    ("curate", "ocr.min_score", "1.5", "'ocr.min_score' must be in [0, 1]"),
    ("curate", "ocr.device", "tpu", "'ocr.device' must be cpu or cuda"),
    ("curate", "ocr.det_margins", "[.nan, 2]", "'ocr.det_margins[0]' must be a finite number"),
    ("curate", "density.chars", "{zh: [800, 100], en: [1, 2], mixed: [1, 2]}",
     "'density.chars.zh' must be [min, max] with min <= max"),
    ("curate", "density.chars", "{zh: [1, .inf], en: [1, 2], mixed: [1, 2]}",
     "'density.chars.zh[1]' must be a finite number"),
    ("curate", "density.per_mpx", "[10, 1]", "'density.per_mpx' must be [min, max]"),
    ("curate", "dedup.ngram", "{zh: 0, en: 5}", "'dedup.ngram.zh' must be in [1, 64]"),
    ("curate", "dedup.page_threshold", NAN, "'dedup.page_threshold' must be a finite number"),
    ("curate", "dedup.phash_max_distance", "65", "'dedup.phash_max_distance' must be in [-1, 64]"),
    ("curate", "seed", NAN, "'seed' must be a finite number"),
    # ---- train
    ("train", "train.lr", NAN, "'train.lr' must be a finite number"),
    ("train", "train.lr", "0", "'train.lr' must be in (0, 1]"),
    ("train", "train.ema", "1.0", "'train.ema' must be in [0, 1)"),
    ("train", "train.bf16", "1", "'train.bf16' must be true/false"),
    ("train", "train.max_steps", "true", "'train.max_steps' must be a number"),
    ("train", "train.max_steps", "1.5", "'train.max_steps' must be an integer"),
    ("train", "train.grad_clip", "0", "'train.grad_clip' must be in (0, inf]"),
    ("train", "train.betas", "[1.0, 0.9]", "'train.betas[0]' must be in [0, 1)"),
    ("train", "model.latent_channels", "0", "'model.latent_channels' must be in [1, 4096]"),
    ("train", "model.latent_channels", "abc", "'model.latent_channels' must be an integer"),
    ("train", "model.enc_mult", "[1, x]", "'model.enc_mult[1]' must be an integer"),
    ("train", "model.name", "huge", "'model.name': unknown model 'huge'"),
    ("train", "loss.align.m_cos", "[.nan, 0.5]", "'loss.align.m_cos[0]' must be a finite number"),
    ("train", "loss.lpips.weight", INF, "'loss.lpips.weight' must be a finite number"),
    ("train", "loss.align.margin_steps", "[300, 0]", "'loss.align.margin_steps' must be [min, max]"),
    ("train", "loss.align.margin_shape", "square", "config key 'loss.align.margin_shape' must be cosine or linear"),
    ("train", "data.batch_size", "0", "'data.batch_size' must be in"),
    ("train", "data.general_share", INF, "'data.general_share' must be a finite number"),
    ("train", "data.general_share", "2", "'data.general_share' must be in [0, 1]"),
    ("train", "data.stages", "[{start: 0, mix: {general: .nan}}]", "'data.stages[0].mix.general' must be a finite"),
    ("train", "data.stages", "[{start: x, mix: {general: 1}}]", "'data.stages[0].start' must be of type int"),
    ("train", "data.sources", "{general: {paths: [1]}}", "'data.sources.general.paths' must be a list"),
    ("train", "data.sources", "{general: {paths: [a], crop_scale: [2, 1]}}",
     "'data.sources.general.crop_scale' must be [min, max]"),
    ("train", "data.sources.general.paths", "[/nonexistent-source]", "does not exist"),  # before --out
    # ---- experiment
    ("experiment", "split.bench_fraction", NAN, "'split.bench_fraction' must be a finite number"),
    ("experiment", "split.bench_fraction", "1.0", "'split.bench_fraction' must be in (0, 1)"),
    ("experiment", "rounds.mix.rate", INF, "'rounds.mix.rate' must be a finite number"),
    ("experiment", "rounds.mix.floor", "1.0", "'rounds.mix.floor' must be in (0, 1)"),
    ("experiment", "rounds.count", "true", "'rounds.count' must be a number"),
    ("experiment", "rounds.at", "[x]", "'rounds.at[0]' must be an integer"),
    ("experiment", "synth.set", "{color: {min_contrast: .nan}}", "'synth.set.color.min_contrast' must be a finite"),
    ("experiment", "synth.set", "{output: {min_yield: 2}}", "synth.set over synth.config: config key 'output.min_yield'"),
    ("experiment", "curate.set", "{ingest: {pdf_dpi: 0}}", "curate.set over curate.config: config key 'ingest.pdf_dpi'"),
    ("experiment", "bench.synth.set", "{layout: {lines: [8, 2]}}", "bench.synth.set over synth.config"),
    ("experiment", "eval.curve_images", "0", "'eval.curve_images' must be in [1, 1000]"),
    ("experiment", "inputs.photos", "[]", "'inputs.photos' must hold at least 1 item"),
    ("experiment", "quick.max_steps", "1.5", "'quick.max_steps' must be an integer"),
    ("experiment", "train", "{data: 5}", "train must be a trainer config mapping"),
    ("experiment", "train", "{train: {lr: .nan}}", "'train.train.lr' must be a finite number"),
    ("experiment", "arms", "{a: {stages: [{start: 0, mix: 5}]}}", "arms.a.stages[0] must be a mapping with a mix"),
    ("experiment", "arms", "{a: {stages: [{start: 0, mix: {general: 1}}], seeds: [-1]}}", "arms.a.seeds"),
    # ---- mix suggest: its eval results (JSON) and its arguments
    ("mix", "", '{"bench": "b", "overall": {"n": 4, "ned": NaN}}', "'overall.ned' must be a finite number"),
    ("mix", "", '{"bench": "b", "overall": {"ned": 0.3}, "by_lang": {"en": {"n": 2, "ned": Infinity}}}',
     "'by_lang.en.ned' must be a finite number"),
    ("mix", "", '{"bench": "b", "overall": {"ned": 0.3}, "by_lang": {"en": {"n": 2, "ned": 1e999}}}',
     "'by_lang.en.ned' must be a finite number"),
    ("mix", "", '{"bench": "b", "overall": {"ned": 0.3}, "by_lang": {"en": {"n": 2, "ned": "x"}}}',
     "'by_lang.en.ned' must be a NED in [0, 1]"),
    ("mix", "", '{"bench": "b", "overall": {"ned": 0.3}, "by_lang": {"en": {"n": 2, "ned": 1.5}}}',
     "'by_lang.en.ned' must be a NED in [0, 1]"),
    ("mix", "", '{"bench": "b", "overall": {"ned": 0.3}, "by_size_bucket": {"5-8": 0.5}}',
     "'by_size_bucket.5-8' must be a mapping"),
    ("mix", "", '{"bench": "b", "overall": {"ned": 0.3}, "by_size_bucket": {"5-8": {"n": "2", "ned": 0.5}}}',
     "'by_size_bucket.5-8.n' must be an image count"),
    ("mix", "", '{"bench": "b", "overall": {"ned": 0.3}, "by_template": []}', "'by_template' must be a mapping"),
    ("mix", "", '{"bench": 5, "overall": {"ned": 0.3}}', "'bench' must be the bench's path"),
    ("mix", "", '{"overall": 5}', "not `textsynth eval` results"),
    ("mix", "", "[" * 100000, "not a JSON file"),
    ("mix-arg", "--rate", "nan", "--rate <= 100; got floor 0.05, step 0.1, rate nan"),
    ("mix-arg", "--rate", "inf", "rate inf"),
    ("mix-arg", "--floor", "nan", "floor nan"),
    ("mix-arg", "--step", "-1", "step -1.0"),
    # ---- bench prune: the review decisions file (checked before the bench is read)
    ("prune", "", DECISIONS[:-1] + ', "bench-000000-000002": NaN}}', "'decisions.bench-000000-000002' must be a finite"),
    ("prune", "", DECISIONS + ', "bench_id": 5}', "'bench_id' must be a string"),
    ("prune", "", DECISIONS + ', "saved_at": []}', "'saved_at' must be a string"),
    ("prune", "", DECISIONS + ', "x": -Infinity}', "'x' must be a finite number"),
]


@pytest.mark.parametrize("kind,key,value,says", CASES,
                         ids=[f"{i:03d}-{c[0]}-{c[1] or 'file'}" for i, c in enumerate(CASES)])
def test_bad_value_is_refused_before_any_work(kind, key, value, says, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)          # relative paths in shipped configs resolve in here
    out = tmp_path / "out"
    rc = cli.main(_argv(kind, key, value, tmp_path, out))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert says in err, err
    assert "Traceback" not in err
    assert not out.exists(), "the output dir was created before the value was checked"


FIRST_OF_EACH_KIND = list({c[0]: c for c in reversed(CASES)}.values())


@pytest.mark.parametrize("kind,key,value,says", FIRST_OF_EACH_KIND, ids=[c[0] for c in FIRST_OF_EACH_KIND])
def test_as_a_subprocess(kind, key, value, says, tmp_path):
    """The same refusals from the installed `textsynth` command: exit 2, the key named."""
    out = tmp_path / "out"
    proc = subprocess.run([str(BIN / "textsynth"), *_argv(kind, key, value, tmp_path, out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


# ------------------------------------------------------------------ completeness

def _leaves(d: dict, where: str = ""):
    for k, v in d.items():
        key = f"{where}.{k}" if where else k
        if isinstance(v, dict):
            yield from _leaves(v, key)
        else:
            yield key, v


def _kinds():
    from textsynth.config import DEFAULTS as SYNTH, FREE_FORM as SYNTH_FREE
    from textsynth.curation.config import DEFAULTS as CURATE, FREE_FORM as CURATE_FREE, load_curate_config
    from textsynth.experiment.config import DEFAULTS as EXPERIMENT, FREE_FORM as EXPERIMENT_FREE
    from textsynth.experiment.config import load_experiment_config
    from textsynth.vae.config import DEFAULTS as TRAIN, load_train_config

    return {
        "synth": (SYNTH, SYNTH_FREE, lambda over: load_config(None, **over)),
        "curate": (CURATE, CURATE_FREE, lambda over: load_curate_config(None, **over)),
        "train": (TRAIN, set(), lambda over: load_train_config("vae_tiny_cpu.yaml", over)),
        "experiment": (EXPERIMENT, EXPERIMENT_FREE, lambda over: load_experiment_config(None, overrides=over)),
    }


def _bad_values(default) -> list:
    """Values of the right type that no key accepts, and values of the wrong type."""
    if isinstance(default, bool):
        return [1, "true", math.nan]
    if isinstance(default, int):
        return [-10 ** 30, True, "1", math.nan, math.inf]
    if isinstance(default, float):
        return [-1e30, True, "1", math.nan, -math.inf]
    if isinstance(default, str):
        return [5, False, ["a"], math.nan]
    if isinstance(default, list):
        return [[{"a": 1}], "x", [math.nan], [math.inf, 1]]
    return [math.nan, "x", -10 ** 30]     # null defaults: optional values


def _every_key():
    for kind, (defaults, free, _) in _kinds().items():
        for key, default in _leaves(defaults):
            if any(key == f or key.startswith(f + ".") for f in free):
                continue           # the user's own names: covered by the table above
            for bad in _bad_values(default):
                yield kind, key, bad


@pytest.mark.parametrize("kind,key,bad", list(_every_key()),
                         ids=lambda v: v if isinstance(v, str) else repr(v)[:20])
def test_every_key_refuses_what_no_key_accepts(kind, key, bad, monkeypatch, tmp_path):
    """Every key of every config's DEFAULTS (new keys included): a value of the wrong type,
    NaN, infinity, a bool for a number, or a number below any key's range is a ConfigError
    naming the key."""
    monkeypatch.chdir(tmp_path)
    load = _kinds()[kind][2]
    with pytest.raises(ConfigError) as e:
        load(_nested(key, bad))
    assert key in str(e.value), (kind, key, bad, str(e.value))


CONFIG_KINDS = {"synth_": "synth", "curate_": "curate", "mine_": "curate", "vae_": "train",
                "ablation_": "experiment", "flywheel_": "experiment", "question_": "experiment"}


def _shipped():
    repo = Path(__file__).resolve().parent.parent
    return sorted({*(repo / "pipelines" / "configs").glob("*.y*ml"), *paths.packaged_config("x").parent.glob("*.y*ml")})


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_shipped_config_still_loads(path, monkeypatch, tmp_path):
    from textsynth.curation.config import load_curate_config
    from textsynth.experiment.config import load_experiment_config
    from textsynth.vae.config import load_train_config

    monkeypatch.chdir(tmp_path)
    kind = next((k for prefix, k in CONFIG_KINDS.items() if path.name.startswith(prefix)), None)
    assert kind, f"{path.name}: which kind of config is it? (add its prefix to CONFIG_KINDS)"
    if kind == "experiment":
        load_experiment_config(path)
        load_experiment_config(path, quick=True)
    else:
        {"synth": load_config, "curate": load_curate_config, "train": load_train_config}[kind](path)


# ------------------------------------------------------------------ JSON readers

@pytest.mark.parametrize("text,says", [
    ("NaN", "the value must be a finite number"),
    ('{"a": [1, -Infinity]}', "'a[1]' must be a finite number"),
    ('{"a": {"b": 1e999}}', "'a.b' must be a finite number"),
    ("{bad", "not a JSON file"),
    (b"\xff\xfe{}", "not a JSON file"),
    ("[" * 100000, "not a JSON file"),
])
def test_read_json_refuses_non_finite_numbers_naming_file_and_key(text, says, tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError) as e:
        read_json(path, "a file")
    assert str(path) in str(e.value) and says in str(e.value)


def test_experiment_stage_result_that_is_not_an_object_is_named(tmp_path):
    from textsynth.experiment.run import Stages

    st = Stages(tmp_path)
    st.path("bench-doc").write_text("[1, 2]")
    with pytest.raises(ValueError, match="bench-doc.json: not a stage result"):
        st.done("bench-doc")
    st.path("bench-doc").write_text('{"seconds": NaN}')
    with pytest.raises(ValueError, match="'seconds' must be a finite number"):
        st.done("bench-doc")


def test_prune_refuses_a_bench_whose_stats_are_not_an_object(assets, tmp_path, capsys):
    from textsynth.shards import ShardSpec, filesystem, write_shard
    from textsynth.synthesis.resources import Resources

    bench = tmp_path / "bench"
    for d in ("shards", "_completions"):
        (bench / d).mkdir(parents=True)
    fs, root = filesystem(str(bench))
    write_shard(Resources(load_config(None, seed=7)), ShardSpec("bench", 0, 7, 3, 0), fs, root)
    (bench / "stats.json").write_text("[]")
    decisions = tmp_path / "d.json"
    decisions.write_text(json.dumps({"format": "textsynth-review/1", "decisions": {}}))
    out = tmp_path / "pruned"
    rc = cli.main(["bench", "prune", "--bench", str(bench), "--decisions", str(decisions), "--out", str(out)])
    assert rc == 2 and "stats.json: not a bench's stats.json" in capsys.readouterr().err
    assert not out.exists()
