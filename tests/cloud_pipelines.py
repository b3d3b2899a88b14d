"""A pipeline of the first two steps of `finetune` (validation, media preprocessing), for the cloud stack tests of the
media cache in the artifact store (tests/test_cloud_stack.py): what a second run uploads, without training again."""

from zenml import pipeline

from components.config import RunConfig
from components.data.prepare import dataset_fingerprint
from steps.preprocess_media import preprocess_media
from steps.validate_dataset import validate_dataset


@pipeline(enable_cache=False)
def media_only(config: RunConfig = RunConfig()) -> None:
    dataset, _ = validate_dataset(config=config, data_fingerprint=dataset_fingerprint(config))
    preprocess_media(config=config, dataset=dataset)
