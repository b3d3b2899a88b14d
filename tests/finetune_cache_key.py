"""ZenML's own cache decision for the `finetune` step of a new run of `pipelines.finetune.finetune -c CONFIG`, in
the ZenML repository of the working directory, without running anything: prints it as JSON.

The pipeline is compiled as `zenml pipeline run` compiles it (`create_snapshot` stores the snapshot a run would
make), the `finetune` step's cache key is computed with ZenML's `generate_cache_key` from that step, the inputs of the
one `finetune` step that has run for real in this store (what an unchanged upstream hands over again), the active
stack's artifact store and the active project, exactly as `StepRunRequestFactory.populate_request` does, and
`get_cached_step_run` says which step run, if any, ZenML would reuse.

Run by tests/test_pipeline.py with the cwd and PYTHONPATH of a project copy (tests/zenml_cli.py)."""

import json
import sys
import uuid

from zenml.client import Client
from zenml.enums import ExecutionStatus
from zenml.orchestrators import cache_utils
from zenml.utils import source_utils

import components


def main(config: str) -> None:
    client = Client()
    ran = client.list_run_steps(name="finetune", status=ExecutionStatus.COMPLETED, hydrate=True).items
    assert len(ran) == 1, f"expected one finetune step that ran, found {len(ran)}"
    pipeline = source_utils.load("pipelines.finetune.finetune").with_options(config_path=config)
    step = pipeline.create_snapshot(name=f"cache-key-{uuid.uuid4().hex[:8]}").step_configurations["finetune"]
    key = cache_utils.generate_cache_key(
        step=step,
        input_artifacts=ran[0].inputs,
        artifact_store=client.active_stack.artifact_store,
        project_id=client.active_project.id,
    )
    reused = cache_utils.get_cached_step_run(cache_key=key)
    print(
        json.dumps(
            {
                "key": key,
                "ran_key": ran[0].cache_key,
                "ran_id": str(ran[0].id),
                "reused_id": str(reused.id) if reused else None,
                "file_dependencies": step.config.cache_policy.file_dependencies,
                "source_root": source_utils.get_source_root(),
                "components": components.__file__,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
