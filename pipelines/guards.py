"""Compile-time checks shared by the pipelines (run inside the pipeline body, before ZenML submits anything)."""

from pathlib import Path

import yaml
from zenml.client import Client
from zenml.pipelines.compilation_context import PipelineCompilationContext

LOCAL_SCHEDULE_MESSAGE = (
    "This run has a `schedule:` but the active stack's orchestrator ({flavor}) cannot run schedules. "
    "Use a stack whose orchestrator can (kubernetes, kubeflow, vertex; see infra/stacks/ and docs/deploy.md), "
    "or remove `schedule:` to run once now."
)


def requested_schedule() -> object | None:
    """The schedule this run asks for: given in code (`with_options(schedule=...)`) or in the `-c` YAML file."""
    ctx = PipelineCompilationContext.get()
    if ctx is None:
        return None
    run_args = getattr(ctx.pipeline, "_run_args", {}) or {}  # ZenML 0.98 keeps with_options() arguments here
    if run_args.get("schedule") is not None:
        return run_args["schedule"]
    path = run_args.get("config_path")
    if path and Path(path).is_file():
        return (yaml.safe_load(Path(path).read_text()) or {}).get("schedule")
    return None


def require_schedulable_stack() -> None:
    """Fail at once, with what to use instead, when a schedule is requested on an orchestrator without schedules."""
    if requested_schedule() is None:
        return
    orchestrator = Client().active_stack.orchestrator
    if not orchestrator.config.is_schedulable:
        raise RuntimeError(LOCAL_SCHEDULE_MESSAGE.format(flavor=orchestrator.flavor))
