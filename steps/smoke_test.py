from typing import Annotated

from zenml import log_metadata, step
from zenml.types import HTMLString

import materializers  # noqa: F401
from components.artifacts import Checkpoint, MediaCache, PreparedDataset
from components.config import RunConfig
from components.data.prepare import cached_loaders, cached_rows
from components.release.smoke import smoke_html
from components.release.smoke import smoke_test as run_smoke
from steps import LIBRARY_CACHE
from steps.process import record_process
from steps.storage import local_media


@step(cache_policy=LIBRARY_CACHE)
def smoke_test(
    config: RunConfig, model: Checkpoint, dataset: PreparedDataset, media_cache: MediaCache
) -> tuple[Annotated[dict, "smoke_metrics"], Annotated[HTMLString, "smoke_report"]]:
    """Generate on held-out rows; exact-match accuracy overall and per task as metadata, plus an HTML report."""
    record_process()  # the step that runs when earlier ones are cached records it too
    media_cache = local_media(media_cache)  # the artifact store's objects, read through this pod's disk
    load_image, load_video = cached_loaders(media_cache)
    metrics, records = run_smoke(
        model.path,
        cached_rows(dataset.eval, media_cache)[: config.smoke.num_samples],  # reads these rows only
        load_image,
        load_video,
        config.smoke.num_samples,
        config.smoke.max_new_tokens,
    )
    log_metadata(metadata=metrics)
    return metrics, HTMLString(smoke_html(records, metrics))
