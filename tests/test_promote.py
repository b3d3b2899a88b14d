"""Registry promotion: the decision rule, then the real thing on a local sqlite MLflow registry: three registered
versions of a tiny checkpoint, `champion` moves only for a better candidate, and the champion's pyfunc answers."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.artifacts import Checkpoint
from components.config import RunConfig
from components.release.promote import decide, promote
from components.release.registry import register, registry_client
from tests.zenml_cli import project_dir, zenml_env, zenml_run

ROOT = Path(__file__).parent.parent
IMAGE = ROOT / "example_data" / "media" / "eval" / "img_0000.png"


ZENML_MODEL_SETUP = """
import sys
from zenml import log_metadata
from zenml.client import Client
name, versions = sys.argv[1], [int(v) for v in sys.argv[2:]]
c = Client()
c.create_model(name=name)
for v in versions:
    mv = c.create_model_version(model_name_or_id=name, name=f"v{v}")
    log_metadata(metadata={"mlflow": {"model_name": name, "version": v}}, model_version_id=mv.id)
c.update_model_version(model_name_or_id=name, version_name_or_id=f"v{versions[0]}", stage="production")
"""
ZENML_STAGES = """
import json, sys
from zenml.client import Client
print(json.dumps({mv.name: str(mv.stage) for mv in Client().list_model_versions(model_name_or_id=sys.argv[1])}))
"""


# -- decide() ---------------------------------------------------------------------------------------------------


def test_no_champion_yet_promotes():
    d = decide({"smoke_accuracy": 0.1}, None)
    assert d.promote and d.reason == "no champion yet"


def test_higher_is_better_with_margin():
    assert decide({"smoke_accuracy": 0.80}, {"smoke_accuracy": 0.70}, margin=0.05).promote
    d = decide({"smoke_accuracy": 0.74}, {"smoke_accuracy": 0.70}, margin=0.05)
    assert not d.promote and "not higher by more than 0.05" in d.reason
    assert not decide({"smoke_accuracy": 0.7}, {"smoke_accuracy": 0.7}).promote  # a tie keeps the champion


def test_lower_is_better_for_losses():
    assert decide({"eval_loss": 1.0}, {"eval_loss": 1.5}, metric="eval_loss", higher_is_better=False).promote
    d = decide({"eval_loss": 1.6}, {"eval_loss": 1.5}, metric="eval_loss", higher_is_better=False)
    assert not d.promote and "not lower" in d.reason


def test_missing_metric():
    d = decide({"other": 1.0}, {"smoke_accuracy": 0.5})
    assert not d.promote and "candidate has no metric 'smoke_accuracy'" in d.reason
    d = decide({"smoke_accuracy": float("nan")}, {"smoke_accuracy": 0.5})
    assert not d.promote
    d = decide({"smoke_accuracy": 0.2}, {"loss": 0.5})
    assert d.promote and "champion has no metric" in d.reason


# -- against a local MLflow registry -----------------------------------------------------------------------------


def _alias(client, name: str, alias: str) -> int:
    return int(client.get_model_version_by_alias(name, alias).version)


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_path):
    """A sqlite MLflow registry in a temp dir and three distinct copies of the tiny Qwen2-VL checkpoint."""
    tmp = tmp_path_factory.mktemp("promote")
    cfg = RunConfig()
    cfg.registry.tracking_uri = f"sqlite:///{tmp / 'mlflow.db'}"
    cfg.registry.model_name = "lmms-promote"
    cfg.registry.experiment = "lmms-promote"
    ckpts = []
    for i in range(3):
        d = tmp / f"ckpt{i}"
        shutil.copytree(tiny_path("qwen2_vl"), d)
        (d / "lmms_version.txt").write_text(str(i))  # distinct content hash per version
        ckpts.append(Checkpoint(str(d), family="qwen2_vl"))
    cwd = os.getcwd()
    os.chdir(tmp)  # register() keeps sqlite artifacts under ./mlruns
    yield cfg, ckpts, tmp
    os.chdir(cwd)


@pytest.mark.slow
def test_promotion_moves_champion_only_for_a_better_candidate(registry, one_thread):
    import mlflow
    import pandas as pd

    cfg, ckpts, tmp = registry
    name = cfg.registry.model_name
    client = registry_client(cfg)

    v1 = register(cfg, ckpts[0], {"smoke_accuracy": 0.50})
    assert not v1["reused"]
    first = promote(client, name, v1["version"])
    assert first["promoted"] and first["reason"] == "no champion yet"
    assert _alias(client, name, "champion") == v1["version"]

    v2 = register(cfg, ckpts[1], {"smoke_accuracy": 0.75})
    second = promote(client, name, v2["version"], margin=0.1)
    assert second["promoted"] and second["previous_champion"] == v1["version"]
    assert _alias(client, name, "champion") == v2["version"]
    assert _alias(client, name, "previous") == v1["version"]
    assert "rejected" not in client.get_model_version(name, str(v2["version"])).tags

    # a retried registration of the same checkpoint reuses its version
    again = register(cfg, ckpts[1], {"smoke_accuracy": 0.75})
    assert again["reused"] and again["version"] == v2["version"]
    assert len(client.search_model_versions(f"name = '{name}'")) == 2
    # and promoting the champion again changes nothing
    assert promote(client, name, v2["version"])["reason"] == "already champion"

    v3 = register(cfg, ckpts[2], {"smoke_accuracy": 0.80})  # better, but not by the margin
    third = promote(client, name, v3["version"], margin=0.1)
    assert not third["promoted"]
    tags = client.get_model_version(name, str(v3["version"])).tags
    assert "not higher by more than 0.1" in tags["rejected"]
    assert _alias(client, name, "champion") == v2["version"]
    assert _alias(client, name, "previous") == v1["version"]
    assert _alias(client, name, "candidate") == v3["version"]

    # the champion answers a prompt with an image through its MLflow pyfunc wrapper
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    out = model.predict(
        pd.DataFrame([{"prompt": "What color is the shape?", "image": str(IMAGE)}]), params={"max_new_tokens": 4}
    )
    assert len(out) == 1 and isinstance(out[0], str)
    assert model.metadata.run_id == client.get_model_version(name, str(v2["version"])).run_id


@pytest.mark.slow
def test_promote_pipeline_through_zenml(registry, tmp_path):
    """The `promote` pipeline as a user runs it: the latest `candidate` against the champion."""
    cfg, ckpts, _ = registry
    cfg = cfg.model_copy(deep=True)
    cfg.registry.model_name = name = "lmms-promote-zenml"
    client = registry_client(cfg)
    champion = register(cfg, ckpts[0], {"smoke_accuracy": 0.25})["version"]
    promote(client, name, champion)
    cand = register(cfg, ckpts[1], {"smoke_accuracy": 0.5})["version"]  # becomes `candidate`
    config = tmp_path / "promote.yaml"
    run_cfg = {"registry": cfg.registry.model_dump(), "promotion": {"metric": "smoke_accuracy", "margin": 0.0}}
    config.write_text(yaml.safe_dump({"parameters": {"config": run_cfg}}))
    env = zenml_env(tmp_path / "zenml")
    # the ZenML Model versions that register_model would have created: the champion's in production
    zenml_py = [sys.executable, "-c", ZENML_MODEL_SETUP, name, str(champion), str(cand)]
    subprocess.run(zenml_py, cwd=project_dir(env), env=env, check=True, capture_output=True, timeout=300)
    rc, out = zenml_run(env, "pipeline", "run", "pipelines.promote.promote", "-c", str(config), timeout=300)
    assert rc == 0, out[-4000:]
    assert "Step promote_model has finished" in out

    assert _alias(client, name, "candidate") == cand
    assert _alias(client, name, "champion") == cand
    assert _alias(client, name, "previous") == champion
    assert (
        "champion: smoke_accuracy 0.5 vs champion 0.25" in client.get_model_version(name, str(cand)).tags["promotion"]
    )


@pytest.mark.slow
def test_retried_registration_never_duplicates(registry, monkeypatch):
    """A registration that fails after the model was logged, then retried: one run, one version."""
    import mlflow

    cfg, ckpts, _ = registry
    cfg = cfg.model_copy(deep=True)
    cfg.registry.model_name = name = "lmms-retry"
    cfg.registry.experiment = "lmms-retry"
    client = registry_client(cfg)

    def fail(*args, **kwargs):
        raise ConnectionError("registry went away")

    with monkeypatch.context() as m:
        m.setattr(mlflow, "register_model", fail)
        with pytest.raises(ConnectionError):
            register(cfg, ckpts[0], {"smoke_accuracy": 0.5})
    exp = client.get_experiment_by_name("lmms-retry").experiment_id
    (orphan,) = client.search_runs([exp])

    first = register(cfg, ckpts[0], {"smoke_accuracy": 0.5})
    assert first["run_id"] == orphan.info.run_id and not first["reused"]
    second = register(cfg, ckpts[0], {"smoke_accuracy": 0.5})
    assert second["reused"] and second["version"] == first["version"]
    assert len(client.search_runs([exp])) == 1
    assert len(client.search_model_versions(f"name = '{name}'")) == 1
    assert _alias(client, name, "candidate") == first["version"]
