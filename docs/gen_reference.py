"""Write the generated reference pages of the docs site from the code itself:

- ``docs/reference/cli.md``: every ``textsynth`` command and option, from the argparse
  parsers the CLI runs (``textsynth.cli.build_parser``);
- ``docs/reference/config.md``: every config key with its default, from the defaults the
  loaders start from, with the comment beside each key in the source.

    python docs/gen_reference.py        (make docs runs it before mkdocs build --strict)

The pages are build output (gitignored), so they cannot drift from the code.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import re
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

def _key_comments(module) -> dict[int, str]:
    """Line number -> the ``# comment`` on that line of the module's source."""
    comments = {}
    for i, line in enumerate(inspect.getsource(module).splitlines(), start=1):
        m = re.search(r'#\s*(.+)$', line)
        if m and not line.lstrip().startswith("#"):
            comments[i] = m.group(1).strip()
    return comments


def _defaults_rows(module, name: str) -> list[str]:
    """A row per leaf key of the dict literal ``module.<name>``: dotted key, default, the
    comment beside it in the source."""
    tree = ast.parse(inspect.getsource(module))
    node = next(n.value for n in ast.walk(tree)
                if isinstance(n, (ast.Assign, ast.AnnAssign))
                and any(getattr(t, "id", None) == name for t in getattr(n, "targets", [getattr(n, "target", None)])))
    comments = _key_comments(module)
    value = getattr(module, name)
    rows: list[str] = []

    def walk(d: ast.Dict, val: dict, prefix: str) -> None:
        for k, v in zip(d.keys, d.values):
            key = ast.literal_eval(k) if isinstance(k, ast.Constant) else None
            if key is None or key not in val:
                continue
            dotted = f"{prefix}{key}"
            if isinstance(v, ast.Dict) and isinstance(val[key], dict) and val[key]:
                walk(v, val[key], dotted + ".")
                continue
            note = " ".join(comments.get(n, "") for n in range(v.lineno, v.end_lineno + 1)).strip()
            default = json.dumps(val[key], ensure_ascii=False)
            rows.append(f"| `{dotted}` | `{default}` | {note.replace('|', '/')} |")

    walk(node, value, "")
    return rows


def config_page() -> str:
    import textsynth.config as synth_config
    import textsynth.curation.config as curate_config
    import textsynth.vae.config as train_config

    out = ["# Config reference", "",
           "Every key of the synthesis, curation and training configs with its default, generated "
           "from the defaults the loaders start from. A YAML file overrides any of them, and "
           "`--set KEY=VALUE` overrides the file. Unknown keys and out-of-range values are "
           "errors naming the key.", ""]
    for title, module, name in (("Synthesis (`textsynth render`, `synth`)", synth_config, "DEFAULTS"),
                                ("Curation (`textsynth curate`, `bench build`)", curate_config, "DEFAULTS"),
                                ("Training (`textsynth train`)", train_config, "DEFAULTS")):
        out += [f"## {title}", "", "| key | default | meaning |", "|---|---|---|",
                *_defaults_rows(module, name), ""]
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
