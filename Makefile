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

.PHONY: install demo test bench-serving clean

install: $(INSTALLED)

# torch first, pinned to the CPU build; an unpinned torch pulls gigabytes of CUDA packages.
$(INSTALLED): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

demo: install
	$(MODPIPE) data pull
	$(MODPIPE) data validate data
	$(MODPIPE) run --config configs/demo.yaml

# Two processes, each taking whole test files: the Kubeflow run's module (about 10 minutes of
# pipeline runs) overlaps the rest. 15 minutes here, where one process took 21 before the
# image and ONNX tests were added.
PYTEST_ARGS ?= -n 2 --dist loadfile

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The service under load against its own limit and a naive app; needs a bento (make demo).
bench-serving: install
	$(PY) benchmarks/serving_benchmark.py

clean:
	rm -rf $(VENV) reports .pytest_cache
