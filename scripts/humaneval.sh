#!/usr/bin/env bash
# The HumanEval example, end to end and offline: the local model completes 20 sampled problems
# with two prompts, five repeats each, every answer run against its tests in a sandbox.
# Slower than example.sh, so not part of it. Sets itself up on first use.
# Fewer problems: CRUCIBLE_HUMANEVAL_PROBLEMS=5 ./scripts/humaneval.sh --crucible-repeats=2
source "$(dirname "$0")/_venv.sh"
exec .venv/bin/python -m pytest --crucible example_experiments/humaneval "$@"
