#!/usr/bin/env bash
# The test suite: lint, types, then every test (what CI runs). Sets itself up on first use.
# Extra arguments go to pytest; the quick subset for the inner loop: ./scripts/test.sh -m "not slow"
source "$(dirname "$0")/_venv.sh"
.venv/bin/ruff check src tests benchmarks example_experiments
.venv/bin/ruff format --check src tests benchmarks example_experiments
.venv/bin/mypy
# the layer rules (pyproject.toml [tool.importlinter], docs/architecture.md)
.venv/bin/lint-imports --no-cache
# -n auto: two workers on 2 cores (README, Development, gives the times)
exec .venv/bin/python -m pytest tests -n auto "$@"
