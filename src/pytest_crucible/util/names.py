"""Names the pytest plugin shares with the core, in a module that imports nothing.

pytest loads the plugin in every run of a project that has pytest-crucible installed, with
`--crucible` or without; with these the plugin can recognise a trial function without
importing the core (about 80 ms).
"""

# the attribute `@experiment.trial` puts on a trial function: its Experiment
EXPERIMENT_ATTRIBUTE = "__crucible_experiment__"
# the one parameter behind the `condition`, `item` and `trial` fixtures (session/items.py)
TRIAL_PARAM = "_crucible_trial"
# the names the session's roles are registered under with pytest's plugin manager
WORKER_PLUGIN = "crucible-worker"  # collects and runs trials (session/worker.py)
CONTROLLER_PLUGIN = "crucible-controller"  # owns the store and the runs (session/controller.py)
