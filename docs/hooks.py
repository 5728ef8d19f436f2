"""mkdocs hooks: generate the reference pages, and fail the build when an object the API
page documents has no docstring (mkdocstrings would render an empty entry)."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def on_pre_build(config) -> None:
    subprocess.run([sys.executable, str(DOCS / "gen_reference.py")], check=True, stdout=subprocess.DEVNULL)
    missing = []
    for target in re.findall(r"^::: (\S+)", (DOCS / "reference" / "api.md").read_text(), re.M):
        obj = _resolve(target)
        members = [obj]
        if inspect.ismodule(obj):   # a module entry documents its public functions and classes
            members += [v for k, v in vars(obj).items() if not k.startswith("_")
                        and (inspect.isfunction(v) or inspect.isclass(v)) and v.__module__ == obj.__name__]
        missing += [f"{target}: {getattr(m, '__qualname__', m.__name__)}" for m in members
                    if not (inspect.getdoc(m) or "").strip()]
    if missing:
        raise SystemExit("docs: no docstring for " + "; ".join(missing))


def _resolve(target: str):
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise SystemExit(f"docs: cannot import {target}")
