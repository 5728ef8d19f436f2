#!/usr/bin/env bash
# Create the separate SynthTIGER venv used by benchmarks/synthtiger_baseline/run.py.
# Usage: benchmarks/synthtiger_baseline/setup.sh [VENV_DIR]
#   VENV_DIR defaults to <repo root>/.bench-venv-synthtiger (git-ignored).
# Idempotent: does nothing if the venv already imports synthtiger with the pinned deps.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${1:-$ROOT/.bench-venv-synthtiger}"
PYTHON="${PYTHON:-python3}"

check() {
    "$VENV/bin/python" - <<'PY' >/dev/null 2>&1
import warnings
warnings.simplefilter("ignore")
import numpy, PIL, synthtiger, fontTools  # noqa: F401
from synthtiger import components, layers, templates, utils  # noqa: F401
assert synthtiger.__version__ == "1.2.1", synthtiger.__version__
assert int(PIL.__version__.split(".")[0]) < 10, PIL.__version__
assert int(numpy.__version__.split(".")[0]) < 2, numpy.__version__
PY
}

if [ -x "$VENV/bin/python" ] && check; then
    echo "synthtiger venv ready: $VENV"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -c "$HERE/constraints.txt" synthtiger fonttools

if ! check; then
    echo "synthtiger venv at $VENV does not import correctly" >&2
    exit 1
fi
echo "synthtiger venv ready: $VENV"
