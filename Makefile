# The two set-up commands of the README: `make run` and `make test`.
# Both create .venv on first use (scripts/setup-venv.sh) and need only python3.11 + pip.
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export PYTHONDONTWRITEBYTECODE := 1

PROMPT ?= Give three short tips for staying focused while studying.

.PHONY: setup run test test-unit test-integration test-multinode bench eval

setup:
	bash scripts/setup-venv.sh

run: setup
	$(BIN)/forkjoin models prepare
	$(BIN)/forkjoin run "$(PROMPT)"

# Integration tests run the smallest model: prepare it (once; cached) so they run, not skip.
test: setup
	$(BIN)/forkjoin models prepare smollm2-135m-instruct
	$(BIN)/python -m pytest tests -q

test-unit: setup
	$(BIN)/python -m pytest tests/unit -q

test-integration: setup
	$(BIN)/forkjoin models prepare smollm2-135m-instruct
	$(BIN)/python -m pytest tests/integration -q -m integration

test-multinode: setup
	$(BIN)/python -m pytest tests/multinode -q -m multinode
