"""pytest hooks (filled in by the core work)."""
