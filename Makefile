# One command per job, shared by people and CI (.ci/run calls `make test`).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: serve test bench
serve: $(VENV)/.installed ## run the host on the embedded Redis (data under ./data) with the example providers
	$(VENV)/bin/wmiput serve --example-providers

test: $(VENV)/.installed examples/node/node_modules/.installed examples/node-provider/node_modules/.installed ## the whole suite
	$(PY) scripts/gen_protos.py --check
	bash scripts/buf_lint.sh
	$(VENV)/bin/pytest

bench: $(VENV)/.installed-bench ## the benchmark (bench/README.md): results in bench/results/; BENCH_ARGS=--quick for a smoke run
	$(PY) -m bench $(BENCH_ARGS)

$(VENV)/.installed-bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The Node.js client example and its test need @grpc/grpc-js; without node they are skipped.
examples/node/node_modules/.installed: examples/node/package-lock.json
	if command -v npm >/dev/null; then cd examples/node && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; fi

# The Node.js provider example and its test need redis and protobufjs; without node they are skipped.
examples/node-provider/node_modules/.installed: examples/node-provider/package-lock.json
	if command -v npm >/dev/null; then cd examples/node-provider && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; fi
