"""What runs left, read through the ZenML client of the active repository and stack (the library imports no ZenML,
so `lmms` asks this module in a subprocess).

    python -m pipelines.runs [--limit N] [--fail RUN]   recent pipeline runs with their status (`lmms runs`); a
        `running` run whose recorded process is gone (on this host) is marked failed, since nothing else ever would;
        `--fail RUN` marks one failed by hand (a run from before processes were recorded, or from a machine now gone)
    python -m pipelines.runs summary [RUN]              the summary of the latest (or the named) `finetune` run, which
        `make demo` prints (components/release/summary.py)
    python -m pipelines.runs artifact REF               JSON: the local checkpoint folder of a ZenML artifact given by
        name (`merged_model`, `merged_model:3`), id or URI (`lmms infer`)
    python -m pipelines.runs tracking-uri               JSON: the tracking URI of the active stack's MLflow tracker
    python -m pipelines.runs json [--limit N] [--run RUN]  JSON: recent runs (or one) with each step's status, run
        metadata and output artifacts (URI, visualization files), and the local artifact store's folder (`lmms ui`)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from zenml.client import Client
from zenml.enums import ExecutionStatus
from zenml.models import PipelineRunUpdate, StepRunUpdate
from zenml.utils.time_utils import utc_now

import materializers  # noqa: F401  (the Checkpoint / dataset materializers, to load artifacts)
from components.artifacts import Checkpoint
from components.config import RunConfig
from components.release.inference import checkpoint_dir
from components.release.registry import absolute_uri, aliases, default_tracking_uri, registry_client
from components.release.summary import RunSummary, example_row, summary_lines
from steps import stack_tracking_uri


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


def _output(run, step: str, name: str):
    if step not in run.steps or not run.steps[step].outputs.get(name):
        return None
    return run.steps[step].outputs[name][0]


def local_checkpoint(artifact) -> str:
    """A checkpoint artifact's files as a local folder: `<uri>/files` on a local artifact store, else a download."""
    if os.path.isdir(artifact.uri):
        return str(checkpoint_dir(artifact.uri))
    ckpt = artifact.load()
    if not isinstance(ckpt, Checkpoint):
        raise ValueError(f"artifact {artifact.name} v{artifact.version} is a {type(ckpt).__name__}, not a checkpoint")
    return ckpt.path


def find_artifact(ref: str):
    """A ZenML artifact version by URI, id, `name:version` or name (its latest version); None if there is none."""
    client = Client()
    by_uri = client.list_artifact_versions(uri=ref.rstrip("/"), size=1)
    if by_uri.items:
        return by_uri.items[0]
    name, _, version = ref.partition(":")
    try:
        return client.get_artifact_version(name, version or None)
    except (KeyError, ValueError):
        return None


def _artifact_row(step: str, name: str, artifact) -> dict[str, Any]:
    return {
        "step": step,
        "name": name,
        "version": str(artifact.version),
        "type": str(artifact.type),
        "uri": artifact.uri,
        "visualizations": [{"uri": v.uri, "type": str(v.type.value)} for v in artifact.visualizations or []],
    }


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def run_record(run) -> dict[str, Any]:
    """One run for the UI's Runs tab: status, steps (status, metadata), output artifacts."""
    steps, artifacts = [], []
    for name, step in run.steps.items():
        steps.append({
            "name": name,
            "status": str(step.status.value),
            "start": step.start_time.isoformat() if step.start_time else None,
            "end": step.end_time.isoformat() if step.end_time else None,
            "metadata": {k: _jsonable(v) for k, v in dict(step.run_metadata).items()},
        })  # fmt: skip
        for out, versions in step.outputs.items():
            artifacts += [_artifact_row(name, out, a) for a in versions]
    return {
        "name": run.name,
        "id": str(run.id),
        "pipeline": run.pipeline.name if run.pipeline else None,
        "status": str(run.status.value),
        "reason": run.body.status_reason or "",
        "start": run.start_time.isoformat() if run.start_time else None,
        "steps": steps,
        "artifacts": artifacts,
    }


def runs_json(limit: int, run_name: str | None) -> dict[str, Any]:
    client = Client()
    if run_name:
        runs = [client.get_pipeline_run(run_name)]
    else:
        runs = list(client.list_pipeline_runs(sort_by="desc:created", size=limit, hydrate=True))
        check_runs(client, runs, socket.gethostname())  # a killed local run is marked failed first
        runs = list(client.list_pipeline_runs(sort_by="desc:created", size=limit, hydrate=True))
    store = client.active_stack.artifact_store
    return {
        "runs": [run_record(r) for r in runs],
        "artifact_store": store.path if os.path.isdir(store.path) else None,
    }


def run_summary(run_name: str | None = None) -> RunSummary:
    client = Client()
    run = client.get_pipeline_run(run_name) if run_name else client.get_pipeline("finetune").last_run
    if str(run.status) != "completed":
        raise RuntimeError(f"pipeline run {run.name} is {run.status}, not completed")
    metrics = _output(run, "smoke_test", "smoke_metrics").load()
    registered = _output(run, "register_model", "registered_model").load()
    promotion = _output(run, "promote_model", "promotion")
    cfg = RunConfig.model_validate(run.steps["register_model"].config.parameters["config"])
    if cfg.registry.tracking_uri is None:
        cfg.registry.tracking_uri = registered.get("tracking_uri") or stack_tracking_uri() or default_tracking_uri()
    uri = absolute_uri(cfg.registry.tracking_uri)
    mlflow_client = registry_client(cfg)
    dataset = _output(run, "validate_dataset", "dataset").load()
    return RunSummary(
        run_name=run.name,
        smoke_metrics=metrics,
        model_name=registered["model_name"],
        version=int(registered["version"]),
        aliases=aliases(mlflow_client, registered["model_name"], int(registered["version"])),
        tracking_uri=uri,
        merged_dir=local_checkpoint(_output(run, "merge_lora", "merged_model")),
        example=example_row(dataset.eval),
        promotion=promotion.load() if promotion is not None else None,
    )


def list_runs(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="lmms runs", description="Recent pipeline runs; killed local runs marked failed.")
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] not in (["summary"], ["artifact"], ["tracking-uri"], ["json"]):
        return list_runs(argv)
    p = argparse.ArgumentParser(prog="python -m pipelines.runs", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summary", help="the summary of the latest (or the named) finetune run")
    s.add_argument("run", nargs="?")
    a = sub.add_parser("artifact", help="JSON: the local checkpoint folder of a ZenML artifact (name, id or URI)")
    a.add_argument("ref")
    sub.add_parser("tracking-uri", help="JSON: the active stack's MLflow tracking URI (null without one)")
    j = sub.add_parser("json", help="JSON: recent runs (or one) with steps and artifacts, for `lmms ui`")
    j.add_argument("--limit", type=int, default=20)
    j.add_argument("--run", help="only this run (name, id or prefix)")
    args = p.parse_args(argv)
    if args.cmd == "json":
        print(json.dumps(runs_json(args.limit, args.run)))
    elif args.cmd == "summary":
        print("\n".join(summary_lines(run_summary(args.run))))
    elif args.cmd == "artifact":
        artifact = find_artifact(args.ref)
        if artifact is None:
            print(json.dumps({"path": None, "error": f"no ZenML artifact named {args.ref!r} (or with that URI)"}))
            return 0
        print(json.dumps({"path": local_checkpoint(artifact), "name": artifact.name, "version": artifact.version}))
    else:
        print(json.dumps({"tracking_uri": stack_tracking_uri()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
