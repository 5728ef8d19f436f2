"""Write the generated reference pages of the docs site from the code itself:

- ``docs/reference/cli.md``: every ``textsynth`` command and option, from the argparse
  parsers the CLI runs (``textsynth.cli.build_parser``);
- ``docs/reference/config.md``: every config key with its type, default, range and help,
  from the typed schemas the loaders validate with (``textsynth/schema.py``).

    python docs/gen_reference.py        (make docs runs it before mkdocs build --strict)

The pages are build output (gitignored), so they cannot drift from the code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

from textsynth.cli import build_parser  # noqa: E402


# ------------------------------------------------------------------------------------ CLI

def _subcommands(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name), sub


def _option_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        names = ", ".join(f"`{s}`" for s in a.option_strings) or f"`{a.metavar or a.dest}`"
        if a.choices and not isinstance(a.choices, dict):
            names += " (" + " \\| ".join(str(c) for c in a.choices) + ")"
        text = (a.help or "").replace("%(default)s", str(a.default)).replace("%%", "%").replace("|", "\\|")
        if a.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in (a.help or ""):
            text += f" (default: `{a.default}`)"
        rows.append(f"| {names} | {' '.join(text.split())} |")
    return rows


def _command(path: list[str], summary: str | None, parser: argparse.ArgumentParser, out: list[str]) -> None:
    out += [f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`", ""]
    if summary:
        out += [summary[0].upper() + summary[1:] + ".", ""]
    if parser.description and parser.description != summary:
        out += [parser.description, ""]
    usage = parser.format_usage().replace("usage: ", "").strip()
    out += ["```text", usage, "```", ""]
    rows = _option_rows(parser)
    if rows:
        out += ["| argument | meaning |", "|---|---|", *rows, ""]
    for name, sub_help, sub in _subcommands(parser):
        _command([*path, name], sub_help, sub, out)


def cli_page() -> str:
    parser = build_parser()
    out = ["# CLI reference", "",
           "Every command and option of `textsynth`, generated from the parsers the CLI runs "
           "(`textsynth COMMAND --help` prints the same).", ""]
    for name, sub_help, sub in _subcommands(parser):
        _command(["textsynth", name], sub_help, sub, out)
    return "\n".join(out)


# --------------------------------------------------------------------------------- config

def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def config_page() -> str:
    from textsynth import config_tool
    from textsynth.schema import reference_rows

    out = ["# Config reference", "",
           "Every key of the synthesis, curation, training and experiment configs: type, default, "
           "range and meaning, generated from the typed schemas the loaders validate with "
           "(`textsynth/schema.py`). A YAML file overrides any of them and `--set KEY=VALUE` "
           "overrides the file; unknown keys, wrong types, NaN and out-of-range values are "
           "errors naming the key. `textsynth config show FILE` prints a file resolved, "
           "`textsynth config validate FILE` checks it, `textsynth config schema KIND` prints "
           "the JSON Schema for an editor.", ""]
    titles = {"synth": "Synthesis (`textsynth render`, `synth`)",
              "curate": "Curation (`textsynth curate`, `bench build`)",
              "train": "Training (`textsynth train`)",
              "experiment": "Experiments (`textsynth experiment`)"}
    for kind in config_tool.KINDS:
        out += [f"## {titles[kind]}", "", "| key | type | default | range | meaning |", "|---|---|---|---|---|"]
        for key, type_, default, rng, help_ in reference_rows(config_tool.model(kind)):
            shown = json.dumps(default, ensure_ascii=False)
            out.append(f"| `{key}` | {_cell(type_)} | `{_cell(shown)}` | {_cell(rng)} | {_cell(help_)} |")
        out.append("")
    return "\n".join(out)


def main() -> int:
    ref = DOCS / "reference"
    ref.mkdir(exist_ok=True)
    (ref / "cli.md").write_text(cli_page(), encoding="utf-8")
    (ref / "config.md").write_text(config_page(), encoding="utf-8")
    print(f"wrote {ref / 'cli.md'} and {ref / 'config.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
