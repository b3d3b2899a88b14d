"""The `prepare_data` pipeline: validate -> preprocess media, the first two steps of `finetune`, wired the same way.

It fills the media cache (content-addressed objects in the artifact store) and caches the validated `dataset`, e.g.
on a CPU pod before a GPU run: a `finetune` run on the same config and stack then finds both steps cached and the
media objects in place. Its `preprocess_media` step metadata says what it uploaded (`uploaded_objects`,
`uploaded_bytes`); a second run uploads nothing, a changed source file only itself.

Run: `zenml pipeline run pipelines.prepare.prepare_data -c <the finetune run's config>` (ZenML warns that the
`steps:` entries of the training steps apply to no step of this pipeline, and ignores them).
"""

from zenml.steps.entrypoint_function_utils import StepArtifact

from components.config import RunConfig
from components.data.prepare import dataset_fingerprint
from pipelines.guards import checked_pipeline, require_schedulable_stack
from steps.preprocess_media import preprocess_media
from steps.validate_dataset import validate_dataset


def prepare_steps(config: RunConfig) -> tuple[StepArtifact, StepArtifact]:
    """The validate and preprocess steps, called inside a pipeline body (`finetune` and `prepare_data` both wire them
    here, so their invocations, and so their cache keys, are the same): the `dataset` and `media_cache` outputs."""
    dataset, _ = validate_dataset(config=config, data_fingerprint=dataset_fingerprint(config))
    return dataset, preprocess_media(config=config, dataset=dataset)


@checked_pipeline(enable_cache=True)
def prepare_data(config: RunConfig = RunConfig()) -> None:
    require_schedulable_stack()
    prepare_steps(config)
