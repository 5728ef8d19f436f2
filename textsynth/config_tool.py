"""`textsynth config show|schema|validate`: the four configs as their schemas declare them.

The kinds are the synthesis (``synth``: `render`, `synth`), curation (``curate``: `curate`,
`bench build`), trainer (``train``) and experiment (``experiment``) configs; each is a typed
model in its own module (textsynth/schema.py explains the pattern). A file's kind is told
from its top-level keys when ``--kind`` is not given.
"""

from __future__ import annotations

import json
from pathlib import Path

KINDS = ("synth", "curate", "train", "experiment")


def model(kind: str):
    """The schema (a :class:`textsynth.schema.Section`) of a config kind."""
    if kind == "synth":
        from textsynth.config import SynthConfig as m
    elif kind == "curate":
        from textsynth.curation.config import CurateConfig as m
    elif kind == "train":
        from textsynth.vae.config import TrainConfig as m
    elif kind == "experiment":
        from textsynth.experiment.config import ExperimentConfig as m
    else:
        raise ValueError(f"unknown config kind {kind!r} (known: {', '.join(KINDS)})")
    return m


def load(kind: str, path: str | Path | None, overrides: dict | None = None) -> dict:
    """A config of ``kind`` as its command would run it: defaults, the file (the command's
    bundled config when None), then ``overrides``; checked."""
    overrides = overrides or {}
    if kind in ("train", "experiment"):
        from textsynth.extras import check_command

        check_command("train")    # the trainer's model presets are checked with the model code
    if kind == "synth":
        from textsynth.config import load_config

        return load_config(path, **overrides)
    if kind == "curate":
        from textsynth.curation.config import load_curate_config

        return load_curate_config(path, **overrides)
    if kind == "train":
        from textsynth.vae.config import load_train_config

        return load_train_config(path, overrides)
    from textsynth.experiment.config import load_experiment_config

    cfg = load_experiment_config(path, overrides=overrides)
    cfg.pop("quick_mode", None)    # how it was loaded, not a key of the file
    return cfg


def detect_kind(path: str | Path) -> str:
    """The kind whose schema holds every top-level key of the file (``extends:`` is only an
    experiment's); a ConfigError when none or several do."""
    from textsynth.config import ConfigError, read_yaml

    keys = set(read_yaml(Path(path))) - {"seed"}
    if "extends" in keys:
        return "experiment"
    fits = [k for k in KINDS if keys <= set(model(k).model_fields)]
    if len(fits) != 1:
        said = f"fits {', '.join(fits)}" if fits else "fits no config kind"
        raise ConfigError(f"{path}: its top-level keys ({', '.join(sorted(keys)) or 'none'}) {said}; "
                          f"name it with --kind {'|'.join(KINDS)}")
    return fits[0]


def show(kind: str, path: str | Path | None, overrides: dict | None = None) -> str:
    """The resolved config as YAML: every key, defaults included."""
    import yaml

    return yaml.safe_dump(load(kind, path, overrides), sort_keys=False, allow_unicode=True)


def schema(kind: str) -> str:
    """The kind's JSON Schema, e.g. for an editor's YAML language server."""
    from textsynth.schema import json_schema

    doc = {"$schema": "https://json-schema.org/draft/2020-12/schema", **json_schema(model(kind))}
    return json.dumps(doc, indent=2, ensure_ascii=False)
