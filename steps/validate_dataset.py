import logging
from typing import Annotated

from zenml import log_metadata, step
from zenml.types import HTMLString

import materializers  # noqa: F401  (registers the materializers)
from components.artifacts import PreparedDataset
from components.config import RunConfig
from components.data.prepare import prepare_dataset
from steps import LIBRARY_CACHE
from steps.process import record_process

log = logging.getLogger(__name__)


@step(cache_policy=LIBRARY_CACHE)
def validate_dataset(
    config: RunConfig, data_fingerprint: str
) -> tuple[Annotated[PreparedDataset, "dataset"], Annotated[HTMLString, "validation_report"]]:
    """Great Expectations + structural checks; bad rows fail the run or go to quarantine (`data.on_invalid`).
    `data_fingerprint` keys the cache on the data's content."""
    record_process()  # `lmms runs` tells a killed local run from a running one
    dataset, reports = prepare_dataset(config)
    meta = {f"{split}_{k}": v for split, r in reports for k, v in r.to_dict().items() if isinstance(v, (int, float))}
    # where each split's relative media paths resolved (the config's folders, else the data file's own folder)
    for split, r in reports:
        meta |= {f"{split}_image_folder": r.image_folder, f"{split}_video_folder": r.video_folder}
        log.info("%s: relative media paths resolved against %s", split, r.folders())
    log_metadata(metadata={**meta, "quarantined": len(dataset.quarantine), "media_files": len(dataset.media_digests)})
    html = "".join(f"<h2>{split}</h2>{r.to_html()}" for split, r in reports)
    return dataset, HTMLString(html)
