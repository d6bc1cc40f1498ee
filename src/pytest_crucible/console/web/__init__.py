"""The dashboard of `crucible serve` (app.py): pages, JSON and live events over the store."""
