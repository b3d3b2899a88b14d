from pathlib import Path
from typing import Annotated

from zenml import log_metadata, step

import materializers  # noqa: F401
from components.artifacts import MediaCache, PreparedDataset
from components.config import RunConfig, cache_root
from components.data.media_cache import MediaSettings
from components.data.media_store import preprocess_to_store
from steps import LIBRARY_CACHE
from steps.process import record_process
from steps.storage import media_store


@step(cache_policy=LIBRARY_CACHE)
def preprocess_media(config: RunConfig, dataset: PreparedDataset) -> Annotated[MediaCache, "media_cache"]:
    """Decode and resize every distinct media file once (per row settings: `max_frames`, or what validation shrank
    the row to) into content-addressed objects in the artifact store (`lmms-media/`) that training reads; a second
    run or another config uploads nothing, a changed file only itself."""
    record_process()  # the step that runs when earlier ones are cached records it too
    d = config.data
    settings = MediaSettings.from_config(d)
    staging = Path(cache_root()) / "media"
    counts: dict = {}  # the rows stream through once (read lazily from the dataset's shards)
    res = preprocess_to_store(
        dataset.samples(),
        settings,
        media_store(),
        staging,
        workers=max(d.num_workers, 1),
        digests=dataset.media_digests,  # objects named without reading their sources
        counts=counts,
    )
    log_metadata(
        metadata={
            "cache_hits": res.cache.hits,
            "cache_misses": res.cache.misses,
            "files": len(res.cache.mapping),
            "uploaded_objects": res.uploaded_objects,
            "uploaded_bytes": res.uploaded_bytes,
            "media_store": res.cache.cache_dir,
            "rows": counts["rows"],
            "rows_with_own_settings": counts["rows_with_own_settings"],
            "seconds": round(res.seconds, 3),
        }
    )
    return res.cache
