# Two commands on a fresh machine: `make demo` (quickstart sweep) and `make test` (the test suite).
# Both create .venv on first use: `make demo` installs what the quickstart needs (torch and
# adamlab's own dependencies), `make test` adds the test tools and the optional extras (Ray,
# pyarrow). Override the torch pair with e.g. `make TORCH="torch torchvision" test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
TORCH  ?= torch==2.14.1 torchvision==0.29.1
BIN     = $(VENV)/bin
DEMO_STAMP = $(VENV)/.adamlab-demo
STAMP      = $(VENV)/.adamlab-installed

.PHONY: venv demo test test-all bench lint clean experiments

venv: $(STAMP)

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e .
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev,ray]"
	touch $(DEMO_STAMP) $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/adamlab sweep configs/quickstart.yaml --jobs 2

# Every experiment of EXPERIMENTS.md, then its tables regenerated (budget: 39 min on 2 CPU cores,
# the sum of the budgets in the configs' headers). MNIST from $ADAMLAB_DATA (else ./data).
EXPERIMENTS = quickstart embedding_sparsity embedding_sparse bias_correction bias_correction_mnist weight_decay
experiments: $(STAMP)
	for name in $(EXPERIMENTS); do $(BIN)/adamlab sweep configs/$$name.yaml --jobs 2 -q || exit 1; done
	$(BIN)/adamlab sweep configs/controls/weight_decay_null.yaml --jobs 2 -q
	$(BIN)/python docs/update_experiments.py

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench: $(STAMP)
	$(BIN)/python -m benchmarks.optimizer_step
	$(BIN)/python -m benchmarks.sweep_throughput
	$(BIN)/python -m benchmarks.end_to_end
	$(BIN)/python -m benchmarks.startup

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
