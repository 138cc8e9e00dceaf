# DebtGPT: every target creates .venv and installs the project on first use.
# Pass Hydra overrides with ARGS, e.g. `make eval ARGS="collectors=[firm,expert] max_turns=16"`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: help venv data eval demo test bench clean

help:
	@echo "make demo   data + evaluation on the embedded default (offline, CPU)"
	@echo "make data   synthetic debt records and personas -> data/"
	@echo "make eval   DebtBench evaluation of collectors -> reports/<run>/"
	@echo "make test   the test suite (offline, CPU)"
	@echo "make bench  throughput benchmarks"

venv: $(STAMP)

# torch==2.13.0 is pinned so pip takes the CPU build where one is provided locally.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

data: $(STAMP)
	$(PY) -m data_gen.make_data $(ARGS)

eval: $(STAMP)
	$(PY) -m eval.run $(ARGS)

demo: $(STAMP)
	$(PY) -m data_gen.make_data
	$(PY) -m eval.run

# pytest exits 5 when it collects no test; make treats any non-zero exit as a failure.
test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) -m benchmarks.run $(ARGS)

clean:
	rm -rf data reports outputs multirun
