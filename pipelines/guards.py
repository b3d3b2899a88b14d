"""Checks shared by the pipelines: the `-c` YAML against the typed RunConfig before ZenML reads it (`checked_pipeline`),
and compile-time checks run inside the pipeline body, before ZenML submits anything."""

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml
from zenml.client import Client
from zenml.config.pipeline_run_configuration import PipelineRunConfiguration
from zenml.pipelines.compilation_context import PipelineCompilationContext
from zenml.pipelines.pipeline_definition import Pipeline

from components.config import ConfigError, RunConfig, load_config, read_yaml

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


class ConfigFileInvalid(click.ClickException):
    """A `-c` YAML that cannot run. A ClickException: the `zenml` CLI prints `Error: ` and the message (one
    `path: message` line per problem) and exits 1, without a traceback."""


def config_file_problems(path: str | Path) -> list[str]:
    """Every problem of a ZenML run config file for our pipelines: ZenML top-level keys that ZenML would silently
    ignore (with the key meant), run config keys placed where ZenML reads its own, and the RunConfig under
    `parameters.config` (components.config.load_config)."""
    try:
        raw = read_yaml(path)
    except ConfigError as err:
        return err.problems
    known = list(PipelineRunConfiguration.model_fields)
    problems = []
    for key in raw:
        if key not in known and key not in RunConfig.model_fields:  # misplaced run config sections: load_config
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            problems.append(f"{key}: unknown key" + (f" (did you mean {close[0]}?)" if close else ""))
    try:
        load_config(path, zenml=True)
    except ConfigError as err:
        problems += err.problems
    return problems


def check_config_file(path: str | Path) -> None:
    """Raise ConfigFileInvalid listing every problem of the `-c` file, if it has any."""
    problems = config_file_problems(path)
    if problems:
        raise ConfigFileInvalid(str(ConfigError(str(path), problems)))


class CheckedPipeline(Pipeline):
    """A ZenML pipeline whose `-c` file (`zenml pipeline run ... -c x.yaml`, `with_options(config_path=...)`) is
    checked before ZenML reads it: ZenML's own handling of a bad file is a long traceback (its `model:` parsed as a
    ZenML Model; a bad RunConfig as "Only JSON serializable inputs are allowed"), raised before the pipeline body
    runs."""

    def with_options(self, *args: Any, config_path: str | None = None, **kwargs: Any) -> Pipeline:
        if config_path:
            check_config_file(config_path)
        return super().with_options(*args, config_path=config_path, **kwargs)


def checked_pipeline(**options: Any) -> Callable[[Callable[..., None]], CheckedPipeline]:
    """`@zenml.pipeline(**options)` building a CheckedPipeline."""

    def decorate(func: Callable[..., None]) -> CheckedPipeline:
        p = CheckedPipeline(name=options.pop("name", func.__name__), entrypoint=func, **options)
        p.__doc__ = func.__doc__
        return p

    return decorate
