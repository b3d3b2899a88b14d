import tempfile
from typing import Annotated

from zenml import log_metadata, step

import materializers  # noqa: F401
from components.artifacts import Checkpoint
from components.release.merge import merge_checkpoint
from steps import LIBRARY_CACHE
from steps.process import record_process


@step(cache_policy=LIBRARY_CACHE)
def merge_lora(checkpoint: Checkpoint) -> Annotated[Checkpoint, "merged_model"]:
    """Merge a LoRA adapter into a standalone checkpoint (checked against the adapter's logits);
    a full fine-tune passes through."""
    record_process()  # the step that runs when earlier ones are cached records it too
    if not checkpoint.is_adapter:
        return checkpoint
    merged, max_diff = merge_checkpoint(checkpoint.path, tempfile.mkdtemp(prefix="lmms-merged-"))
    log_metadata(metadata={"merge_max_abs_logit_diff": max_diff})
    return Checkpoint.from_dir(merged)
