# make demo : run the whole finetune pipeline on the embedded default (tiny model, example data, CPU)
# make test : ruff + pytest
# VENV=path reuses an existing environment (created if missing).
VENV ?= .venv
PY := $(VENV)/bin/python
export ZENML_ANALYTICS_OPT_IN ?= false
export AUTO_OPEN_DASHBOARD ?= false
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install demo test lint data clean

$(VENV)/.lmms-installed: pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: pip must never pull another build
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	@touch $@

install: $(VENV)/.lmms-installed

data:
	@test -f example_data/train.json || $(PY) example_data/generate.py

demo: install data
	bash infra/setup_stack.sh $(VENV)
	$(VENV)/bin/zenml pipeline run pipelines.finetune.finetune -c configs/demo.yaml
	$(PY) -m pipelines.runs summary

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff format --check .

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m pytest -q --durations=10

clean:
	rm -rf outputs mlruns mlflow.db .pytest_cache
