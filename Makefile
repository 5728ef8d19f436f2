# textsynth: `make demo` and `make test` work on a fresh machine with nothing installed by hand.
# Assets go to $TEXTSYNTH_HOME (default ~/.cache/textsynth); see README "Assets".

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
TS      = $(VENV)/bin/textsynth
DEMO   ?= out/demo

.PHONY: install assets demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

assets: install
	$(TS) assets fetch --profile ci

demo: assets
	$(TS) render --num 32 --out $(DEMO)/render --seed 0
	@echo "demo: samples and contact sheet in $(DEMO)/render (open $(DEMO)/render/contact_sheet.png)"

test: assets
	$(PY) -m pytest -q

bench: assets
	$(PY) benchmarks/render.py

clean:
	rm -rf $(VENV) out .pytest_cache
