from typing import Annotated

from zenml import get_step_context, log_metadata, step
from zenml.client import Client

import materializers  # noqa: F401
from components.artifacts import Checkpoint
from components.config import RunConfig
from components.release.registry import register


@step(enable_cache=False)
def register_model(config: RunConfig, model: Checkpoint, smoke_metrics: dict) -> Annotated[dict, "registered_model"]:
    """Log params and metrics to MLflow and register the merged checkpoint as a new model version."""
    ctx = get_step_context()
    tracker = Client().active_stack.experiment_tracker
    if config.registry.tracking_uri is None and tracker is not None and tracker.flavor == "mlflow":
        tracker.configure_mlflow()  # credentials of a remote MLflow (env vars), as its own steps get them
        config = config.model_copy(deep=True)
        config.registry.tracking_uri = tracker.get_tracking_uri()
    info = register(config, model, smoke_metrics, run_name=ctx.pipeline_run.name)
    log_metadata(metadata=info)
    if ctx.model is not None:
        log_metadata(metadata={"mlflow": info}, infer_model=True)
    return info
