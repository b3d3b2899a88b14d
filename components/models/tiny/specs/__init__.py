"""One module per family with a tiny checkpoint: `TINY = TinySpec(...)` (see components/models/tiny/spec.py)."""
