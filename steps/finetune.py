import base64
import tempfile
from pathlib import Path
from typing import Annotated

from zenml import log_metadata, step
from zenml.types import HTMLString

import materializers  # noqa: F401
from components.artifacts import Checkpoint, MediaCache, PreparedDataset
from components.config import RunConfig
from components.prepare import cached_loaders, cached_rows, resolve_model_path
from components.training import RowsDataset, loss_curve_png, train
from steps import LIBRARY_CACHE


@step(cache_policy=LIBRARY_CACHE)
def finetune(
    config: RunConfig, dataset: PreparedDataset, media_cache: MediaCache
) -> tuple[Annotated[Checkpoint, "checkpoint"], Annotated[HTMLString, "loss_curve"]]:
    """HF Trainer + PEFT on the cached media; returns the final model or adapter with its processor."""
    load_image, load_video = cached_loaders(media_cache)
    train_ds = RowsDataset(cached_rows(dataset.train, media_cache), load_image, load_video)
    eval_ds = RowsDataset(cached_rows(dataset.eval, media_cache), load_image, load_video) if dataset.eval else None
    out_dir = Path(tempfile.mkdtemp(prefix="lmms-train-"))
    result = train(config, resolve_model_path(config), train_ds, eval_ds, out_dir)
    log_metadata(metadata=result.metrics)
    evals = [h["eval_loss"] for h in result.log_history if "eval_loss" in h]
    if evals:
        log_metadata(metadata={"eval_loss_first": evals[0], "eval_loss_last": evals[-1]})
    png = base64.b64encode(loss_curve_png(result.log_history, out_dir / "loss.png").read_bytes()).decode()
    html = f'<h2>Loss</h2><img src="data:image/png;base64,{png}"/>'
    return Checkpoint.from_dir(result.checkpoint), HTMLString(html)
