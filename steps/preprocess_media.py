from pathlib import Path
from typing import Annotated

from zenml import log_metadata, step

import materializers  # noqa: F401
from components.artifacts import MediaCache, PreparedDataset
from components.config import RunConfig
from components.media_cache import MediaSettings, preprocess
from components.tiny import cache_root
from steps import LIBRARY_CACHE


@step(cache_policy=LIBRARY_CACHE)
def preprocess_media(config: RunConfig, dataset: PreparedDataset) -> Annotated[MediaCache, "media_cache"]:
    """Decode and resize every distinct media file once into a content-addressed cache that training reads."""
    d = config.data
    settings = MediaSettings(d.min_pixels, d.max_pixels, d.num_frames, d.video_fps)
    cache_dir = Path(cache_root()) / "media"
    res = preprocess(dataset.image_paths, dataset.video_paths, settings, cache_dir, workers=max(d.num_workers, 1))
    log_metadata(metadata={"cache_hits": res.hits, "cache_misses": res.misses, "seconds": round(res.seconds, 3)})
    return MediaCache(str(cache_dir), res.mapping, settings.__dict__, res.hits, res.misses)
