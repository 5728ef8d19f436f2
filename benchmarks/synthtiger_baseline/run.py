"""Single-core SynthTIGER throughput for the textsynth standard-spec job.

Run with the SynthTIGER venv's python (see setup.sh), e.g.

  .bench-venv-synthtiger/bin/python benchmarks/synthtiger_baseline/run.py \
      --fonts-en DIR --fonts-zh DIR --backgrounds DIR \
      --corpus-en FILE --corpus-zh FILE --num 300 --format png --seed 0

One process, one thread (OMP/MKL/OPENBLAS/cv2 threads = 1, no multiprocessing,
pinned to one CPU unless --no-pin). Samples are generated the way synthtiger's
own generator does with worker=0 (per-sample seed from a task RNG,
set_global_random_seed, template.generate()), then encoded into memory by the
template's save(). Warm-up samples are excluded from the timing. The last
stdout line is one JSON object:
  {"samples": N, "seconds": t, "samples_per_s": r, "format": "png"|"jpg", ...}
"""

import os

for _var in (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "BLIS_NUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

warnings.filterwarnings("ignore")  # Pillow 9.5 DeprecationWarning for getsize()

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fonts-en", required=True, help="dir of fonts for English lines")
    p.add_argument("--fonts-zh", required=True, help="dir of CJK fonts for Chinese lines")
    p.add_argument("--backgrounds", required=True, help="dir of background photos")
    p.add_argument("--corpus-en", required=True, help="English corpus, one line per entry")
    p.add_argument("--corpus-zh", required=True, help="Chinese corpus, one line per entry")
    p.add_argument("--num", type=int, default=300, help="timed samples (default 300)")
    p.add_argument("--format", choices=("png", "jpg"), default="png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup", type=int, default=5, help="untimed samples first (default 5)")
    p.add_argument(
        "--cache",
        action="store_true",
        help="best case for synthtiger: memoize FreeType font objects, decoded "
        "background images and their sizes (stock synthtiger re-reads them on every use)",
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin to a single CPU")
    p.add_argument("--dump", default=None, help="also write the timed samples to DIR (slower; debugging only)")
    return p.parse_args(argv)


def pin_one_cpu():
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[0]})
    return cpus[0]


def enable_cache():
    """Memoize the per-use file loads stock synthtiger does (opt-in)."""
    from functools import lru_cache

    import numpy as np
    from PIL import ImageFont

    from synthtiger.components.texture.base_texture import BaseTexture
    from synthtiger.layers.text_layer import TextLayer

    truetype = lru_cache(maxsize=512)(ImageFont.truetype)
    TextLayer._read_font = lambda self, path, size: truetype(path, size=int(size))

    read_texture = BaseTexture._read_texture
    cached = lru_cache(maxsize=64)(lambda self, path, gray: read_texture(self, path, gray))

    def _read_texture(self, path, grayscale=False):
        return np.array(cached(self, path, bool(grayscale)))  # data() mutates alpha

    BaseTexture._read_texture = _read_texture
    get_size = BaseTexture._get_size
    BaseTexture._get_size = lru_cache(maxsize=1024)(lambda self, path: get_size(self, path))


def main(argv=None):
    args = parse_args(argv)
    cpu = None if args.no_pin else pin_one_cpu()

    import cv2
    import numpy as np
    import PIL
    import synthtiger

    cv2.setNumThreads(1)
    if args.cache:
        enable_cache()

    config = {
        "fonts_en": args.fonts_en,
        "fonts_zh": args.fonts_zh,
        "backgrounds": args.backgrounds,
        "corpus_en": args.corpus_en,
        "corpus_zh": args.corpus_zh,
        "format": args.format,
    }
    template = synthtiger.read_template(os.path.join(HERE, "template.py"), "StandardSpec", config)

    task_rng = random.Random(args.seed)
    failures = [0]

    def generate_one():
        # same per-task seeding as synthtiger.generator(worker=0)
        states = synthtiger.get_global_random_states()
        synthtiger.set_global_random_seed(task_rng.getrandbits(128))
        try:
            for _ in range(10):
                try:
                    return template.generate()
                except Exception:
                    failures[0] += 1
                    if failures[0] <= 3:
                        traceback.print_exc(file=sys.stderr)
            raise RuntimeError("template.generate() failed 10 times in a row")
        finally:
            synthtiger.set_global_random_states(states)

    template.init_save(None)
    for i in range(args.warmup):
        template.save(None, generate_one(), i)

    template.init_save(args.dump)
    lines = 0
    t0 = time.perf_counter()
    for i in range(args.num):
        data = generate_one()
        template.save(args.dump, data, i)
        lines += len(data["labels"])
    seconds = time.perf_counter() - t0
    template.end_save(args.dump)

    result = {
        "samples": args.num,
        "seconds": round(seconds, 4),
        "samples_per_s": round(args.num / seconds, 3) if seconds > 0 else None,
        "format": args.format,
        "engine": "synthtiger",
        "synthtiger": synthtiger.__version__,
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cache": bool(args.cache),
        "cpu": cpu,
        "warmup": args.warmup,
        "seed": args.seed,
        "lines_per_sample": round(lines / args.num, 3) if args.num else None,
        "mean_bytes": round(template.bytes / args.num) if args.num else None,
        "retries": failures[0],
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
