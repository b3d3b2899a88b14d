from typing import Annotated

from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.enums import ModelStages
from zenml.logger import get_logger

from components.config import RunConfig
from components.release.promote import promote
from components.release.registry import registry_client
from steps import with_stack_tracking_uri

logger = get_logger(__name__)


def _zenml_model_version(name: str, version: int):
    """The version of the ZenML Model named like the MLflow model whose `mlflow` metadata (logged by register_model)
    points at MLflow `name` v`version`, if any."""
    client = Client()
    try:
        client.get_model(name)
    except KeyError:
        return None
    for mv in client.list_model_versions(model_name_or_id=name, sort_by="desc:number", size=100, hydrate=True):
        meta = mv.run_metadata.get("mlflow")
        if isinstance(meta, dict) and meta.get("model_name") == name and int(meta.get("version", -1)) == version:
            return mv
    return None


@step(enable_cache=False)
def promote_model(
    config: RunConfig, registered: dict | None = None, version: int | None = None
) -> Annotated[dict, "promotion"]:
    """Promote the candidate to `champion` if it beats the current one (see components/release/promote.py); the ZenML
    Model stage follows: production for a new champion (the old one is archived), archived for a rejected candidate."""
    config = with_stack_tracking_uri(config)
    client = registry_client(config)
    name = config.registry.model_name
    if registered is not None:
        name, version = registered["model_name"], int(registered["version"])
    elif version is None:
        version = int(client.get_model_version_by_alias(name, config.registry.alias or "candidate").version)
    p = config.promotion
    decision = promote(client, name, version, p.metric, p.margin, p.higher_is_better)
    logger.info(
        "promotion of %s v%s: %s (%s)",
        name,
        version,
        "champion" if decision["promoted"] else "rejected",
        decision["reason"],
    )
    metadata = {k: v for k, v in decision.items() if v is not None}
    log_metadata(metadata={"promotion": metadata})

    ctx = get_step_context()
    stage = ModelStages.PRODUCTION if decision["promoted"] else ModelStages.ARCHIVED
    if registered is not None and ctx.model is not None:  # finetune's own ZenML Model version (its last step)
        ctx.model.set_stage(stage, force=True)  # force: the version in production so far becomes archived
        log_metadata(metadata={"promotion": metadata}, infer_model=True)
    elif (zmv := _zenml_model_version(name, version)) is not None:
        zmv.set_stage(stage, force=True)
        log_metadata(metadata={"promotion": metadata}, model_version_id=zmv.id)
    return decision
