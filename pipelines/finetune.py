"""The `finetune` pipeline: validate -> preprocess media -> fine-tune -> merge LoRA -> smoke test -> register
[-> promote].

Run: `zenml pipeline run pipelines.finetune.finetune -c configs/demo.yaml`. The defaults are the demo.
"""

from components.config import RunConfig
from components.data.prepare import dataset_fingerprint
from pipelines.guards import checked_pipeline, require_schedulable_stack
from steps.finetune import finetune as finetune_step
from steps.merge_lora import merge_lora
from steps.preprocess_media import preprocess_media
from steps.promote_model import promote_model
from steps.register_model import register_model
from steps.smoke_test import smoke_test
from steps.validate_dataset import validate_dataset


@checked_pipeline(enable_cache=True)
def finetune(config: RunConfig = RunConfig()) -> None:
    require_schedulable_stack()
    dataset, _ = validate_dataset(config=config, data_fingerprint=dataset_fingerprint(config))
    cache = preprocess_media(config=config, dataset=dataset)
    checkpoint, _ = finetune_step(config=config, dataset=dataset, media_cache=cache)
    merged = merge_lora(checkpoint=checkpoint)
    metrics, _ = smoke_test(config=config, model=merged, dataset=dataset, media_cache=cache)
    registered = register_model(config=config, model=merged, smoke_metrics=metrics)
    if config.promotion.enabled:
        promote_model(config=config, registered=registered)
