"""Forked worker processes for the data stages (validation, preprocessing): what every forked worker resets first.

A fork copies the parent's Python signal handlers. A parent that installed its own SIGTERM handler (Gradio's server
does, in `lmms ui`; so may a notebook or a test session) would leave its workers unable to die: `Pool.terminate`
sends SIGTERM to an idle worker blocked on the task queue, the copied handler runs and returns, the worker goes back
to waiting, and the parent waits in `join` forever (seen: a test session hung 12 minutes in `Pool.__exit__`)."""

from __future__ import annotations

import signal


def reset_signals() -> None:
    """In a forked worker: SIGTERM ends it (the default action), and Ctrl-C is left to the parent, which stops the
    pool itself."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
