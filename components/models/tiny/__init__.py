"""Tiny random checkpoints of every family, built offline for the tests, the sweep and the demo."""
