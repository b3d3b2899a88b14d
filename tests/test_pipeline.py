"""End to end: the `finetune` pipeline through the ZenML CLI, exactly as a user runs it, twice.

The first run goes through all six steps and registers an MLflow model version; the second, on unchanged data,
reuses validation and preprocessing from the cache."""

from pathlib import Path

import pytest
import yaml

from tests.zenml_cli import ROOT, zenml_run
from tests.zenml_cli import zenml_env as isolated_env

STEPS = ["validate_dataset", "preprocess_media", "finetune", "merge_lora", "smoke_test", "register_model"]


@pytest.fixture(scope="module")
def zenml_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zenml")
    env = isolated_env(tmp)
    return env, tmp


def _run(env, config: Path) -> str:
    rc, out = zenml_run(env, "pipeline", "run", "pipelines.finetune.finetune", "-c", str(config))
    assert rc == 0, out[-5000:]
    return out


@pytest.mark.slow
def test_demo_pipeline_end_to_end(zenml_env):
    env, tmp = zenml_env
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    c = cfg["parameters"]["config"]
    c["train"]["epochs"] = 2  # the learning itself is tested in test_learning.py
    c["smoke"]["num_samples"] = 8
    c["registry"]["tracking_uri"] = f"sqlite:///{tmp / 'mlflow.db'}"
    c["registry"]["model_name"] = "lmms-e2e"
    c["promotion"] = {"enabled": True}  # the optional last step: the first version becomes champion
    config = tmp / "e2e.yaml"
    config.write_text(yaml.safe_dump(cfg))

    first = _run(env, config)
    for step in [*STEPS, "promote_model"]:
        assert f"Step {step} has finished" in first, step

    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(c["registry"]["tracking_uri"])
    versions = MlflowClient().search_model_versions("name = 'lmms-e2e'")
    assert len(versions) == 1
    assert MlflowClient().get_model_version_by_alias("lmms-e2e", "candidate").version == versions[0].version
    assert MlflowClient().get_model_version_by_alias("lmms-e2e", "champion").version == versions[0].version

    second = _run(env, config)
    cached = [line for line in second.splitlines() if "Using cached version of step" in line]
    assert any("validate_dataset" in line for line in cached)
    assert any("preprocess_media" in line for line in cached)
    # a retried registration never duplicates the version
    assert len(MlflowClient().search_model_versions("name = 'lmms-e2e'")) == 1
