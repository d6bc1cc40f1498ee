"""What a researcher declares: experiments, conditions, config, datasets, metrics, hooks,
metric validation and the declared policies. Pure: no pytest, no store, no model calls."""
