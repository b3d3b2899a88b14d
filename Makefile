# make demo : run the whole finetune pipeline on the embedded default (tiny model, example data, CPU)
# make test : ruff + pytest without the tests marked slow (CI runs this via .ci/run; the end-to-end pipeline, the
#             browser tests and the cloud-stack tests are not marked slow and run), 2 worker processes, a file each
# make test-all : every test, slow ones included (DDP / ZeRO, learning, resume, serving, ... ~1 h on 2 cores)
# make run CONFIG=configs/x.yaml : the finetune pipeline on another config
# make ui   : the web UI (`lmms ui`) on http://127.0.0.1:7860 (docs/ui.md)
# VENV=path reuses an existing environment (created if missing); this clone is installed into it whenever it is not
# the clone installed there (several clones may share one environment).
# Commands by hand: `source .venv/bin/activate` (or $(VENV)/bin/activate) puts lmms, zenml and mlflow on PATH.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_PAR ?= -n 2 --dist loadfile --no-loadscope-reorder
# Two test workers on two cores: one intra-op thread each, here and in every process a test starts (with two each
# they oversubscribe the cores: one epoch of the browser tests' training run took 57 s with two threads, 16.5 s with one)
TEST_THREADS ?= 1
STAMP := $(VENV)/.lmms-installed
export ZENML_ANALYTICS_OPT_IN ?= false
export AUTO_OPEN_DASHBOARD ?= false
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install demo run ui test test-all lint data clean

# The stamp holds the path of the clone installed into $(VENV): a stamp of another clone (or an older stamp without
# a path) makes it stale, and this clone is installed again.
ifneq ($(shell cat $(STAMP) 2>/dev/null),$(CURDIR))
.PHONY: $(STAMP)
endif

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: pip must never pull another build
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	@echo "$(CURDIR)" > $@

install: $(STAMP)

data:
	@test -f example_data/train.json || $(PY) example_data/generate.py

demo: install data
	bash infra/setup_stack.sh $(VENV)
	$(VENV)/bin/zenml pipeline run pipelines.finetune.finetune -c configs/demo.yaml
	$(PY) -m pipelines.runs summary

run: install
	@test -n "$(CONFIG)" || { echo "usage: make run CONFIG=configs/<name>.yaml" >&2; exit 2; }
	bash infra/setup_stack.sh $(VENV)
	$(VENV)/bin/zenml pipeline run pipelines.finetune.finetune -c $(CONFIG)

ui: install data
	$(VENV)/bin/lmms ui $(UI_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff format --check .

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	OMP_NUM_THREADS=$(TEST_THREADS) $(VENV)/bin/python -m pytest -q -m "not slow" $(PYTEST_PAR) --durations=15

test-all: install
	OMP_NUM_THREADS=$(TEST_THREADS) $(VENV)/bin/python -m pytest -q $(PYTEST_PAR) --durations=25

clean:
	rm -rf outputs mlruns mlflow.db .pytest_cache
