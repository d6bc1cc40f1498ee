"""Small helpers every layer may use: hashing, names, tracebacks, text. No pytest, no store."""
