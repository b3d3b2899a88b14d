"""The process that runs a step, recorded on its pipeline run (`orchestrator_pid`, `orchestrator_host`): with the
local orchestrator every step runs in the orchestrator's own process, so `lmms runs` can tell a `running` run whose
process died (kill -9, a closed laptop) from one still running, which ZenML 0.98 itself does not record."""

import os
import socket

from zenml import get_step_context, log_metadata


def record_process() -> None:
    """Record this process on the current step's pipeline run (call it first thing in a step)."""
    run = get_step_context().pipeline_run
    log_metadata(
        metadata={"orchestrator_pid": os.getpid(), "orchestrator_host": socket.gethostname()},
        run_id_name_or_prefix=run.id,
    )
