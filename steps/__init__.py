"""Thin ZenML steps: each wraps plain functions from components/.

ZenML's cache key covers a step's own source, not the library it calls: every cached step therefore lists every file
of the library (recursively: families, tiny specs, subpackages) as file dependencies, so a change anywhere in
components/ invalidates the cache.

Importing the package filters library noise in the steps' logs (components/noise.py).
"""

from pathlib import Path

from zenml.client import Client
from zenml.config.cache_policy import CachePolicy

import components
from components.config import RunConfig
from components.noise import quiet_library_noise

_ROOT = Path(components.__file__).resolve().parent.parent
LIBRARY_FILES = sorted(str(p.relative_to(_ROOT)) for p in Path(components.__file__).parent.rglob("*.py"))
LIBRARY_CACHE = CachePolicy(file_dependencies=LIBRARY_FILES)


def stack_tracking_uri() -> str | None:
    """The active stack's MLflow experiment tracker's URI, its credentials configured (env vars, as its own steps get
    them), if the stack has one."""
    tracker = Client().active_stack.experiment_tracker
    if tracker is None or tracker.flavor != "mlflow":
        return None
    tracker.configure_mlflow()
    return tracker.get_tracking_uri()


def with_stack_tracking_uri(config: RunConfig) -> RunConfig:
    """`config` with the stack's MLflow tracking URI where `registry.tracking_uri` is unset."""
    uri = stack_tracking_uri() if config.registry.tracking_uri is None else None
    if uri is None:
        return config
    config = config.model_copy(deep=True)
    config.registry.tracking_uri = uri
    return config


quiet_library_noise()
