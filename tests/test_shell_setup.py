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
