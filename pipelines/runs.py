"""`lmms runs`: recent pipeline runs with their status; a `running` run whose recorded process is gone (on this host)
is marked failed through the ZenML client, since nothing else ever would. `--fail RUN` marks one failed by hand (a
run from before processes were recorded, or from a machine that is gone).

    python -m pipelines.runs [--limit N] [--fail RUN]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from zenml.client import Client
from zenml.enums import ExecutionStatus
from zenml.models import PipelineRunUpdate, StepRunUpdate
from zenml.utils.time_utils import utc_now


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def dead_process(metadata: dict[str, Any], host: str, alive: Callable[[int], bool] = pid_alive) -> str | None:
    """Why a run's recorded process is known to be gone, or None (alive, elsewhere, or never recorded)."""
    pid, where = metadata.get("orchestrator_pid"), metadata.get("orchestrator_host")
    if not isinstance(pid, int) or where != host:
        return None
    return None if alive(pid) else f"its process {pid} on {host} no longer exists"


def mark_failed(client: Any, run: Any, reason: str) -> None:
    """The run and its unfinished steps FAILED, the reason as the run's status reason."""
    for step in run.steps.values():
        if not step.status.is_finished:
            update = StepRunUpdate(status=ExecutionStatus.FAILED, end_time=utc_now())
            client.zen_store.update_run_step(step.id, update)
    client.zen_store.update_run(run.id, PipelineRunUpdate(status=ExecutionStatus.FAILED, status_reason=reason))


def check_runs(client: Any, runs: list, host: str, alive: Callable[[int], bool] = pid_alive) -> list[dict[str, str]]:
    """One row per run; a running run whose process is gone is marked failed first."""
    rows = []
    for run in runs:
        status, note = str(run.status.value), ""
        if run.status == ExecutionStatus.RUNNING:
            reason = dead_process(dict(run.run_metadata), host, alive)
            if reason:
                mark_failed(client, run, reason)
                status, note = "failed", f"was running, marked failed: {reason}"
            elif "orchestrator_pid" not in run.run_metadata:
                note = f"no process recorded: if it is dead, `lmms runs --fail {run.name}`"
        elif run.status == ExecutionStatus.FAILED and run.body.status_reason:
            note = run.body.status_reason
        start = run.start_time.strftime("%Y-%m-%d %H:%M") if run.start_time else ""
        rows.append({"name": run.name, "status": status, "start": start, "note": note})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lmms runs", description=__doc__.split("\n\n")[0])
    p.add_argument("--limit", type=int, default=20, help="the most recent N runs (default 20)")
    p.add_argument("--fail", metavar="RUN", help="mark this run (name, id or prefix) failed")
    args = p.parse_args(argv)
    client = Client()
    if args.fail:
        run = client.get_pipeline_run(args.fail)
        if run.status.is_finished:
            print(f"{run.name} is already {run.status.value}", file=sys.stderr)
            return 1
        mark_failed(client, run, "marked failed by hand (lmms runs --fail)")
        print(f"{run.name}: marked failed")
        return 0
    runs = list(client.list_pipeline_runs(sort_by="desc:created", size=args.limit, hydrate=True))
    rows = check_runs(client, runs, socket.gethostname())
    for r in rows:
        print(f"{r['name']:<48} {r['status']:<10} {r['start']:<16} {r['note']}".rstrip())
    if not rows:
        print("no pipeline runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
