"""`lmms infer REF` on each kind of reference a user has after a run: a checkpoint folder, a ZenML artifact (its name,
or the URI the dashboard shows), and `models:/<name>@<alias>` from the MLflow registry; and a clear error for a
reference that is none of them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.artifacts import Checkpoint
from components.release.inference import checkpoint_dir, resolve_checkpoint
from tests.test_serving import IMAGE, register_tiny
from tests.zenml_cli import project_dir, zenml_env

SAVE_ARTIFACT = """
import json, sys
from zenml import save_artifact
import materializers
from components.artifacts import Checkpoint
a = save_artifact(Checkpoint(sys.argv[1], family="qwen2_vl"), name="merged_model")
print(json.dumps({"uri": a.uri, "version": str(a.version)}))
"""


def lmms_infer(ref: str, env: dict, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "components.cli", "infer", ref, "--image", str(IMAGE),
           "--prompt", "What color is the shape?", "--max-new-tokens", "3", *extra]  # fmt: skip
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def answer(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # the answer alone on stdout
    return lines[0]


@pytest.fixture(scope="module")
def zenml_place(tmp_path_factory, tiny_path):
    """A ZenML repository (a project copy with its own store) holding a `merged_model` artifact of the tiny model."""
    tmp = tmp_path_factory.mktemp("infer")
    env = {**zenml_env(tmp), "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    ckpt = tmp / "merged"
    shutil.copytree(tiny_path("qwen2_vl"), ckpt)
    proc = subprocess.run(
        [sys.executable, "-c", SAVE_ARTIFACT, str(ckpt)], cwd=project_dir(env), env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return env, ckpt, json.loads(proc.stdout.strip().splitlines()[-1])


def test_checkpoint_dir_of_a_zenml_artifact_folder_is_its_files(tmp_path, tiny_path):
    art = tmp_path / "artifact"
    shutil.copytree(tiny_path("qwen2_vl"), art / "files")
    (art / "checkpoint.json").write_text("{}")
    assert checkpoint_dir(art) == art / "files"
    assert checkpoint_dir(f"file://{art}") == art / "files"
    assert checkpoint_dir(art / "files") == art / "files"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: not a checkpoint"):
        checkpoint_dir(tmp_path / "empty")


@pytest.mark.slow
def test_infer_a_checkpoint_folder(zenml_place):
    env, ckpt, _ = zenml_place
    assert answer(lmms_infer(str(ckpt), env, project_dir(env))) is not None


@pytest.mark.slow
def test_infer_a_zenml_artifact_by_name_and_by_uri(zenml_place):
    env, ckpt, saved = zenml_place
    by_name = lmms_infer("merged_model", env, project_dir(env))
    assert f"ZenML artifact merged_model version {saved['version']}: {saved['uri']}/files" in by_name.stderr
    by_uri = lmms_infer(saved["uri"], env, project_dir(env))  # the URI the dashboard shows: the weights are in files/
    assert answer(by_name) == answer(by_uri) == answer(lmms_infer(str(ckpt), env, project_dir(env)))


@pytest.mark.slow
def test_infer_a_registered_model(zenml_place, tmp_path, tiny_path, monkeypatch):
    env, ckpt, _ = zenml_place
    cfg, _ = register_tiny(tmp_path, tiny_path, "lmms-infer")
    uri = cfg.registry.tracking_uri
    monkeypatch.setenv("LMMS_CACHE", str(tmp_path / "cache"))
    local = resolve_checkpoint("models:/lmms-infer@champion", uri)
    assert Path(local).is_relative_to(tmp_path / "cache" / "registry")
    assert Checkpoint(local).content_hash() == Checkpoint(str(ckpt)).content_hash()  # the registered weights
    assert resolve_checkpoint("models:/lmms-infer/1", uri) == local  # downloaded once
    env = {**env, "LMMS_CACHE": str(tmp_path / "cache")}
    via_flag = answer(lmms_infer("models:/lmms-infer@champion", env, tmp_path, "--tracking-uri", uri))
    via_env = answer(lmms_infer("models:/lmms-infer@champion", {**env, "MLFLOW_TRACKING_URI": uri}, tmp_path))
    assert via_flag == via_env == answer(lmms_infer(str(ckpt), env, tmp_path))
    missing = lmms_infer("models:/lmms-infer@nosuch", env, tmp_path, "--tracking-uri", uri)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "models:/lmms-infer@nosuch" in missing.stderr and uri in missing.stderr


@pytest.mark.slow
def test_infer_an_unknown_reference_says_what_it_accepts(zenml_place):
    env, _, _ = zenml_place
    proc = lmms_infer("no_such_thing", env, project_dir(env))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no_such_thing: not a checkpoint folder, a ZenML artifact" in proc.stderr


def test_summary_names_the_registry_the_infer_command_needs(monkeypatch):
    """The summary's `lmms infer models:/...` line carries --tracking-uri unless the run used the project's own
    mlflow.db (what `lmms infer` finds by itself), even where MLflow has set $MLFLOW_TRACKING_URI in the process."""
    from components.artifacts import Sample
    from components.release.registry import PROJECT_TRACKING_URI
    from components.release.summary import RunSummary, example_row, summary_lines

    rows = [
        Sample(0, "v", None, [("user", "<video>\nWhich way?"), ("assistant", "left")], videos=["/d/v.mp4"]),
        Sample(1, "i", None, [("user", "<image>\nWhat color is it?"), ("assistant", "red")], images=["/d/a b.png"]),
    ]
    metrics = {"smoke_samples": 2, "smoke_accuracy": 0.5, "smoke_accuracy_image": 1.0, "smoke_accuracy_video": 0.0}
    run = RunSummary("run-1", metrics, "lmms-demo", 3, ["candidate", "champion"], "sqlite:////r/mlflow.db", "/m/files")
    run.example = example_row(rows)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////r/mlflow.db")
    lines = summary_lines(run)
    assert lines[:4] == ["== run-1: finished ==", "smoke accuracy: 0.500 on 2 held-out rows", "  image: 1.000",
                         "  video: 0.000"]  # fmt: skip
    assert "registered model: lmms-demo version 3, aliases: candidate, champion" in lines
    assert "merged checkpoint: /m/files" in lines
    assert (
        "  lmms infer models:/lmms-demo@champion --tracking-uri sqlite:////r/mlflow.db --image '/d/a b.png' "
        "--prompt 'What color is it?'" in lines
    )
    assert "  mlflow ui --backend-store-uri sqlite:////r/mlflow.db" in lines
    run.tracking_uri, run.aliases = PROJECT_TRACKING_URI, ["candidate"]
    assert any(line.startswith("  lmms infer models:/lmms-demo@candidate --image") for line in summary_lines(run))
