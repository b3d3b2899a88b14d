from pathlib import Path
from typing import Annotated

from zenml import log_metadata, step

import materializers  # noqa: F401
from components.artifacts import MediaCache, PreparedDataset
from components.config import RunConfig, cache_root
from components.data.media_cache import MediaSettings, preprocess_samples
from steps import LIBRARY_CACHE
from steps.process import record_process


@step(cache_policy=LIBRARY_CACHE)
def preprocess_media(config: RunConfig, dataset: PreparedDataset) -> Annotated[MediaCache, "media_cache"]:
    """Decode and resize every distinct media file once (per row settings: `max_frames`, or what validation shrank
    the row to) into a content-addressed cache that training reads; a second run or another config only hits."""
    record_process()  # the step that runs when earlier ones are cached records it too
    d = config.data
    settings = MediaSettings.from_config(d)
    cache_dir = Path(cache_root()) / "media"
    counts: dict = {}  # the rows stream through once (read lazily from the dataset's shards)
    res = preprocess_samples(dataset.samples(), settings, cache_dir, workers=max(d.num_workers, 1), counts=counts)
    log_metadata(
        metadata={
            "cache_hits": res.hits,
            "cache_misses": res.misses,
            "files": len(res.mapping),
            "rows": counts["rows"],
            "rows_with_own_settings": counts["rows_with_own_settings"],
            "seconds": round(res.seconds, 3),
        }
    )
    return MediaCache(str(cache_dir), res.mapping, settings.__dict__, res.hits, res.misses)
