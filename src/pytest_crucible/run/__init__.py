"""Running one trial: the trial object, the runner, model calls and their budgets, error
recovery, and `--crucible-estimate`. No pytest: the session drives it."""
