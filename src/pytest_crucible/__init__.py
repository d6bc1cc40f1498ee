"""pytest-crucible: AI research experiments as pytest test suites."""
