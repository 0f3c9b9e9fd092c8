# The two commands of the README, and their parts. Every target sets itself up first.
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# A shared 2-core box: one BLAS/OpenMP thread per process unless told otherwise.
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: setup evaluate demo test test-rust test-python stubtest typecheck docs bench

setup:
	bash scripts/setup.sh

evaluate: setup
	$(BIN)/coldkit evaluate

demo: setup
	$(BIN)/coldkit demo

test: setup test-rust test-python stubtest typecheck docs

test-rust:
	cargo test -p coldkit-core --release --quiet

test-python:
	$(BIN)/python -m pytest -q tests benches plugins --benchmark-disable -p no:cacheprovider

stubtest:
	$(BIN)/python -m mypy.stubtest coldkit._core

typecheck:
	$(BIN)/python -m mypy python/coldkit

# The guides and the API reference from the docstrings, into site/ (offline, strict: a broken
# link or an unparsable docstring fails; about 15 s).
docs:
	$(BIN)/mkdocs build --quiet

bench: setup
	mkdir -p out  # pytest-benchmark opens the JSON only at the end: a missing folder lost the whole run
	COLDKIT_BENCH_FULL=1 $(BIN)/python -m pytest -q benches --benchmark-json=out/bench.json
