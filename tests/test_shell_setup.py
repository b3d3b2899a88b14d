"""`make install` into an environment shared by several clones installs this clone whenever it is not the one
installed there (the stamp records the clone's path). Checked with `make -n` on a fake environment: nothing runs."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
INSTALL = '-e ".[dev]"'


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    assert shutil.which("make"), "GNU make is needed (make demo / make test)"
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text("#!/bin/sh\nexit 1\n")  # never run: make -n only prints
    (tmp_path / "bin" / "python").chmod(0o755)
    return tmp_path


def planned(venv: Path, target: str = "install", *extra: str) -> str:
    out = subprocess.run(["make", "-n", target, f"VENV={venv}", *extra], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_install_follows_the_clone_in_the_stamp(venv: Path):
    stamp = venv / ".lmms-installed"
    assert INSTALL in planned(venv)  # nothing installed yet
    stamp.write_text("/some/other/clone\n")
    assert INSTALL in planned(venv)  # another clone installed last: install this one
    stamp.write_text("")
    assert INSTALL in planned(venv)  # an old stamp without a path
    stamp.write_text(f"{ROOT.resolve()}\n")
    assert "pip install" not in planned(venv)  # this clone, up to date: nothing to do
    os.utime(stamp, (0, 0))
    assert INSTALL in planned(venv)  # this clone, but pyproject.toml / constraints.txt changed since
    plan = planned(venv)
    assert f'echo "{ROOT.resolve()}" > {stamp}' in plan  # the install records this clone


def test_run_target_takes_a_config(venv: Path):
    (venv / ".lmms-installed").write_text(f"{ROOT.resolve()}\n")
    plan = planned(venv, "run", "CONFIG=configs/qwen2_vl_2b_qlora.yaml")
    assert f"{venv}/bin/zenml pipeline run pipelines.finetune.finetune -c configs/qwen2_vl_2b_qlora.yaml" in plan
    assert "-c configs/demo.yaml" in planned(venv, "demo")


def test_docs_use_one_command_form():
    """README and docs write `lmms` / `zenml` / `mlflow` / `python` as typed in the activated environment, never
    `.venv/bin/zenml`; the README says how to activate it."""
    readme = (ROOT / "README.md").read_text()
    assert "source .venv/bin/activate" in readme and "make run CONFIG=" in readme
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            rest = line.replace("source .venv/bin/activate", "")
            assert ".venv/bin/" not in rest, f"{doc.relative_to(ROOT)}:{n}: {line.strip()}"


@pytest.mark.slow
def test_clones_sharing_a_zenml_store_each_log_to_their_own_mlflow(tmp_path: Path):
    """Two clones, one ZenML global store (one HOME): `infra/setup_stack.sh` in each makes an active stack whose MLflow
    tracker logs to that clone's own mlflow.db (before, the second clone reused the first one's tracker)."""
    import sys

    from tests.zenml_cli import project_dir, zenml_env

    venv = str(Path(sys.executable).parent.parent)
    first = zenml_env(tmp_path / "a")
    second = zenml_env(tmp_path / "b", config_dir=Path(first["ZENML_CONFIG_PATH"]))
    show = "from zenml.client import Client; print(Client().active_stack.experiment_tracker.config.tracking_uri)"
    for env in (first, second):
        env = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
        project = project_dir(env)
        subprocess.run(["bash", "infra/setup_stack.sh", venv], cwd=project, env=env, check=True, capture_output=True)
        out = subprocess.run([sys.executable, "-c", show], cwd=project, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"sqlite:///{project}/mlflow.db"
