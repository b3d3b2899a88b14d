"""The `finetune` pipeline: validate -> preprocess media -> fine-tune -> merge LoRA -> smoke test -> register
[-> promote].

Run: `zenml pipeline run pipelines.finetune.finetune -c configs/demo.yaml`. The defaults are the demo.
"""

from components.config import RunConfig
from pipelines.guards import checked_pipeline, require_schedulable_stack
from pipelines.prepare import prepare_steps
from steps.finetune import finetune as finetune_step
from steps.merge_lora import merge_lora
from steps.promote_model import promote_model
from steps.register_model import register_model
from steps.smoke_test import smoke_test


@checked_pipeline(enable_cache=True)
def finetune(config: RunConfig = RunConfig()) -> None:
    require_schedulable_stack()
    dataset, cache = prepare_steps(config)
    checkpoint, _ = finetune_step(config=config, dataset=dataset, media_cache=cache)
    merged = merge_lora(checkpoint=checkpoint)
    metrics, _ = smoke_test(config=config, model=merged, dataset=dataset, media_cache=cache)
    registered = register_model(config=config, model=merged, smoke_metrics=metrics)
    if config.promotion.enabled:
        promote_model(config=config, registered=registered)
