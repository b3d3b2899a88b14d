from typing import Annotated

from zenml import get_step_context, log_metadata, step

import materializers  # noqa: F401
from components.artifacts import Checkpoint
from components.config import RunConfig
from components.release.registry import register
from steps import with_stack_tracking_uri


@step(enable_cache=False)
def register_model(config: RunConfig, model: Checkpoint, smoke_metrics: dict) -> Annotated[dict, "registered_model"]:
    """Log params and metrics to MLflow and register the merged checkpoint as a new model version."""
    ctx = get_step_context()
    config = with_stack_tracking_uri(config)
    info = register(config, model, smoke_metrics, run_name=ctx.pipeline_run.name)
    log_metadata(metadata=info)
    if ctx.model is not None:
        log_metadata(metadata={"mlflow": info}, infer_model=True)
    return info
