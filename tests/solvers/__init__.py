"""Solver pipeline tests: a package, so its helper module imports relatively."""
