#!/usr/bin/env bash
# The test suite: lint, types, then every test. Sets itself up on first use.
source "$(dirname "$0")/_venv.sh"
.venv/bin/ruff check src tests benchmarks example_experiments
.venv/bin/ruff format --check src tests benchmarks example_experiments
.venv/bin/mypy
# -n auto: the suite takes about 6 min on 2 cores with xdist, twice that without
exec .venv/bin/python -m pytest tests -n auto "$@"
