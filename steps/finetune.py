import base64
from typing import Annotated

from zenml import log_metadata, step
from zenml.types import HTMLString

import materializers  # noqa: F401
from components.artifacts import Checkpoint, MediaCache, PreparedDataset
from components.config import RunConfig, cache_root
from components.models.loading import ModelRef
from components.train.launch import launch_training
from components.train.mirror import CheckpointMirror, drop_remote, pull_latest
from components.train.recipe import loss_curve_png
from components.train.resume import run_dir
from steps import LIBRARY_CACHE
from steps.process import record_process
from steps.storage import checkpoint_root, local_media


@step(cache_policy=LIBRARY_CACHE)
def finetune(
    config: RunConfig, dataset: PreparedDataset, media_cache: MediaCache
) -> tuple[Annotated[Checkpoint, "checkpoint"], Annotated[HTMLString, "loss_curve"]]:
    """HF Trainer + PEFT on the cached media, in one or several processes (`train.distributed`); returns the final
    model or adapter with its processor. A retry of this step resumes from the last complete checkpoint in the
    run directory (`steps.finetune.retry` in the YAML)."""
    record_process()  # the step that runs when earlier ones are cached records it too
    media_cache = local_media(media_cache)  # the artifact store's objects, read through this pod's disk
    model = ModelRef.from_config(config.model)
    out_dir = run_dir(config, dataset.content_hash(), model.path).absolute()
    fs, remote = checkpoint_root(out_dir.name)  # a retry in a fresh pod resumes from what an earlier attempt mirrored
    pulled = pull_latest(remote, out_dir, fs) if config.train.resume else None
    result = launch_training(config, model, dataset, media_cache, out_dir, mirror=CheckpointMirror(remote, fs))
    drop_remote(remote, fs)  # the final model is an artifact now
    log_metadata(
        metadata={
            **result.metrics,
            "run_dir": str(out_dir),
            "cache_root": str(cache_root()),
            "checkpoint_mirror": remote,
            "pulled_checkpoint": pulled.name if pulled else "",
        }
    )
    evals = [h["eval_loss"] for h in result.log_history if "eval_loss" in h]
    if evals:
        log_metadata(metadata={"eval_loss_first": evals[0], "eval_loss_last": evals[-1]})
    png = base64.b64encode(loss_curve_png(result.log_history, out_dir / "loss.png").read_bytes()).decode()
    html = f'<h2>Loss</h2><img src="data:image/png;base64,{png}"/>'
    return Checkpoint.from_dir(result.checkpoint), HTMLString(html)
