#!/usr/bin/env bash
# The example experiment, end to end and offline: a local model server, two prompts,
# three repeats, stored in .crucible/crucible.db. Sets itself up on first use.
source "$(dirname "$0")/_venv.sh"
exec .venv/bin/python -m pytest --crucible example_experiments "$@"
