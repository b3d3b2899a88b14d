"""End to end: the `finetune` pipeline through the ZenML CLI, exactly as a user runs it, in an isolated copy of the
project (tests/zenml_cli.py).

The first run goes through all six steps and registers an MLflow model version; the second, on unchanged data,
reuses validation and preprocessing from the cache. An edit anywhere in the library (here a family's module prefixes,
two packages down in components/) changes ZenML's cache key of the `finetune` step, so a run after it trains again."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.zenml_cli import ROOT, project_dir, zenml_env, zenml_run

STEPS = ["validate_dataset", "preprocess_media", "finetune", "merge_lora", "smoke_test", "register_model"]
FAMILY_FILE = "components/models/families/qwen2_vl.py"


def _run(env, config: Path) -> str:
    rc, out = zenml_run(env, "pipeline", "run", "pipelines.finetune.finetune", "-c", str(config))
    assert rc == 0, out[-5000:]
    return out


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """The demo config, cheaper, run once in an isolated place: (env, config path, its `config` parameter, output)."""
    tmp = tmp_path_factory.mktemp("zenml")
    env = zenml_env(tmp)
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    c = cfg["parameters"]["config"]
    c["train"]["epochs"] = 2  # the learning itself is tested in test_learning.py
    c["smoke"]["num_samples"] = 8
    c["registry"]["tracking_uri"] = f"sqlite:///{tmp / 'mlflow.db'}"
    c["registry"]["model_name"] = "lmms-e2e"
    c["promotion"] = {"enabled": True}  # the optional last step: the first version becomes champion
    config = tmp / "e2e.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return env, config, c, _run(env, config)


def test_demo_pipeline_end_to_end(first_run):
    env, config, c, first = first_run
    for step in [*STEPS, "promote_model"]:
        assert f"Step {step} has finished" in first, step
    # the demo config sets no batching keys: its Qwen2-VL trains packed, attending per sample, with the chunked loss,
    # and the run says so
    said = "batching: packed (train.packing: auto, and family qwen2_vl packs); attention: packed_sdpa; loss: chunked"
    assert said in first

    from mlflow import MlflowClient

    # this run's registry, whatever registry URI an earlier test left set in mlflow's globals (test_promote.py)
    uri = c["registry"]["tracking_uri"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions("name = 'lmms-e2e'")
    assert len(versions) == 1
    assert client.get_model_version_by_alias("lmms-e2e", "candidate").version == versions[0].version
    assert client.get_model_version_by_alias("lmms-e2e", "champion").version == versions[0].version

    # the summary `make demo` prints after the run, read through the ZenML client (pipelines/runs.py)
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.runs", "summary"], cwd=project_dir(env), env=env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = proc.stdout.splitlines()
    version = versions[0].version
    assert any(line.startswith("smoke accuracy: ") and "on 8 held-out rows" in line for line in summary), summary
    for kind in ("image", "multi_image", "video", "text"):
        assert any(line.startswith(f"  {kind}: ") for line in summary), (kind, summary)
    assert f"registered model: lmms-e2e version {version}, aliases: candidate, champion" in summary
    merged = next(line.removeprefix("merged checkpoint: ") for line in summary if line.startswith("merged checkpoint"))
    assert Path(merged).is_absolute() and (Path(merged) / "config.json").is_file()
    assert Path(merged).parent.is_relative_to(Path(env["ZENML_CONFIG_PATH"]))  # the local artifact store's files/
    assert f"MLflow tracking URI: {uri}" in summary
    assert any(
        line.startswith(f"  lmms infer models:/lmms-e2e@champion --tracking-uri {uri} --image /") for line in summary
    ), summary
    assert f"  mlflow ui --backend-store-uri {uri}" in summary

    second = _run(env, config)
    cached = [line for line in second.splitlines() if "Using cached version of step" in line]
    assert any("validate_dataset" in line for line in cached)
    assert any("preprocess_media" in line for line in cached)
    assert any("step finetune." in line for line in cached)  # unchanged code and inputs: no training again
    # a retried registration never duplicates the version
    assert len(client.search_model_versions("name = 'lmms-e2e'")) == 1


def _finetune_cache(env, config: Path) -> dict:
    """ZenML's cache key and decision for `finetune` in a new run in `env` (tests/finetune_cache_key.py)."""
    proc = subprocess.run(
        [sys.executable, "tests/finetune_cache_key.py", str(config)],
        cwd=project_dir(env), env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_library_edit_invalidates_the_finetune_cache(first_run, tmp_path):
    """ZenML's real cache logic on the real `finetune` step run of `first_run`: unchanged, a new run would reuse it;
    after an edit deep in components/ (a family's module prefixes) it would not. Checked on a second copy of the
    project sharing the ZenML store, so the first copy stays as it ran."""
    env, config, _, _ = first_run
    edited = zenml_env(tmp_path, src=project_dir(env), config_dir=Path(env["ZENML_CONFIG_PATH"]))
    project = project_dir(edited)

    before = _finetune_cache(edited, config)
    assert before["components"] == str(project / "components" / "__init__.py")  # the copy's library, not ROOT's
    assert before["source_root"] == str(project)
    assert FAMILY_FILE in before["file_dependencies"]
    # the control: computed here as in the real run, and the real run's step is what ZenML would reuse
    assert before["key"] == before["ran_key"]
    assert before["reused_id"] == before["ran_id"]

    family = project / FAMILY_FILE
    text = family.read_text()
    assert 'vision=("model.visual",),' in text
    family.write_text(text.replace('vision=("model.visual",),', 'vision=("model.visual", "model.vision_tower"),'))

    after = _finetune_cache(edited, config)
    assert after["ran_id"] == before["ran_id"] and after["file_dependencies"] == before["file_dependencies"]
    assert after["key"] != before["key"]
    assert after["reused_id"] is None  # the finetune step runs again
