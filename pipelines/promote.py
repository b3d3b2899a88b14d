"""The `promote` pipeline: compare a registered model version with the `champion` and move the aliases.

Run: `zenml pipeline run pipelines.promote.promote -c configs/promote.yaml` (the version defaults to the one holding
`registry.alias`, i.e. the latest `candidate`).
"""

from components.config import RunConfig
from pipelines.guards import checked_pipeline, require_schedulable_stack
from steps.promote_model import promote_model


@checked_pipeline(enable_cache=False)
def promote(config: RunConfig = RunConfig(), version: int | None = None) -> None:
    require_schedulable_stack()
    promote_model(config=config, version=version)
