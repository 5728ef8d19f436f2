# textsynth: `make demo` and `make test` work on a fresh machine with nothing installed by hand.
# Assets go to $TEXTSYNTH_HOME (default ~/.cache/textsynth); see docs/guides/quickstart.md "Assets".

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
TS      = $(VENV)/bin/textsynth
DEMO   ?= out/demo

.PHONY: install assets browser demo test bench docs docs-images clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The distribution was called textsynth before (now textsynth-engine): drop that install.
	$(PY) -m pip uninstall --quiet --yes textsynth 2>/dev/null || true
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	# The lpips package is the reference of an LPIPS parity test only; without its torchvision
	# dependency (the one wheel here is built for CUDA torch), see tests/test_vae.py.
	$(PY) -m pip install --quiet --no-deps lpips==0.1.4
	touch $@

assets: install
	$(TS) assets fetch --profile ci

demo: assets
	$(TS) render --num 32 --out $(DEMO)/render --seed 0
	$(TS) synth --out $(DEMO)/synth --num-samples 200 --samples-per-shard 50 --job synth --overwrite
	$(TS) curate --config pipelines/configs/curate_demo.yaml --out $(DEMO)/curate --overwrite \
	  --input "$$($(TS) assets path documents)"
	$(TS) verify $(DEMO)/synth $(DEMO)/curate
	@echo "demo: contact sheet $(DEMO)/render/contact_sheet.png; shards in $(DEMO)/synth/shards"
	@echo "demo: curated doc shards in $(DEMO)/curate/shards, rejects with reasons in $(DEMO)/curate/rejects"
	@echo "demo: browse both in the gallery: $(TS) gallery $(DEMO)/synth $(DEMO)/curate"
	@echo "demo:   then open http://127.0.0.1:8765/  (or share a static page: add --export $(DEMO)/gallery)"
	@echo "demo: train a tiny VAE on them (from any directory):"
	@echo "  $(abspath $(TS)) train --config pipelines/configs/vae_tiny_cpu.yaml --out out/vae-tiny --set data.sources.doc.paths='[$(abspath $(DEMO))/curate]' --set data.sources.synth.paths='[$(abspath $(DEMO))/synth]'"

# Debian's Chromium, driven by Playwright (web-page ingest, gallery tests); installed with
# apt when missing and we are root, otherwise the tests that need it say how to get it.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "warning: no chromium; install the Debian package chromium for web pages and gallery tests"

test: assets browser
	$(PY) -m pytest -q

bench: assets
	$(PY) benchmarks/render.py

# the docs site into site/: guides, the CLI and config references generated from the code,
# the API from docstrings; --strict fails on a broken link or a missing docstring
docs: install
	$(VENV)/bin/mkdocs build --strict --quiet
	@echo "docs: open site/index.html"

# the README's contact sheets (docs/images/*.jpg), from backgrounds the code draws
docs-images: assets
	$(PY) docs/make_images.py

clean:
	rm -rf $(VENV) out .pytest_cache
