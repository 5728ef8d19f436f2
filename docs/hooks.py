"""mkdocs hooks: generate the reference pages, and fail the build when an object the API
page documents has no docstring (mkdocstrings would render an empty entry). Docstrings are
read the way mkdocstrings reads them: statically, with griffe, from this checkout."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def on_pre_build(config) -> None:
    subprocess.run([sys.executable, str(DOCS / "gen_reference.py")], check=True, stdout=subprocess.DEVNULL)
    targets = re.findall(r"^::: (\S+)", (DOCS / "reference" / "api.md").read_text(), re.M)
    missing = _undocumented(targets)
    if missing:
        raise SystemExit("docs: no docstring for " + "; ".join(missing))


def _undocumented(targets: list[str]) -> list[str]:
    import griffe

    package = griffe.GriffeLoader(search_paths=[str(DOCS.parent)]).load("textsynth")
    missing = []
    for target in targets:
        obj = package[target.removeprefix("textsynth.")]
        members = [obj]
        if obj.is_module:   # a module entry documents its public functions and classes
            members += [m for name, m in obj.members.items()
                        if not name.startswith("_") and not m.is_alias and (m.is_function or m.is_class)]
        missing += [f"{target}: {m.name}" if m is not obj else target for m in members if not m.docstring]
    return missing
