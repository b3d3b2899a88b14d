"""Running the `zenml` CLI from tests the way a user runs `zenml pipeline run` from a checkout, but never in the
user's checkout.

Each `zenml_env(tmp)` is a place of its own under `tmp`: a temporary ZenML global config and store (`config/`) and a
temporary copy of the project source (`project/`), `zenml init`-ed there, which is the ZenML repository, the source
root, the working directory and the PYTHONPATH of everything run in it. So `zenml init`, stack registration and what a
run writes relative to its working directory (`outputs/`, `./mlruns`, a default `sqlite:///<cwd>/mlflow.db`) land in
`tmp`, and the checkout's `.zen/` (its active stack), `mlflow.db`, `mlruns/` and `outputs/` stay as they were
(checked for the whole session in conftest.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZENML = str(Path(sys.executable).parent / "zenml")
# What a pipeline run imports or reads: the packages, their configs and data, the tests' own helpers.
SOURCE = [
    "components",
    "steps",
    "pipelines",
    "materializers",
    "benchmarks",
    "configs",
    "example_data",
    "infra",
    "tests",
    "pyproject.toml",
]


def copy_project(dest: Path, src: Path = ROOT) -> Path:
    """The project source of `src` (the checkout by default) copied to `dest`: no ZenML or run state comes along."""
    dest.mkdir(parents=True)
    for name in SOURCE:
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src / name, dest / name)
    return dest


def zenml_env(tmp: Path, src: Path = ROOT, config_dir: Path | None = None) -> dict[str, str]:
    """The environment of an isolated ZenML place under `tmp` (see the module docstring); `zenml_run` runs there.

    `src`: the project to copy (another place's `project_dir`, say); `config_dir`: a ZenML config and store to share
    (another place's, say) instead of a new one in `tmp/config`."""
    project = copy_project(tmp / "project", src)
    env = {
        **os.environ,
        "ZENML_CONFIG_PATH": str(config_dir or tmp / "config"),
        "ZENML_REPOSITORY_PATH": str(project),  # an explicit repository: ZenML searches no parent directory
        "ZENML_ANALYTICS_OPT_IN": "false",
        "AUTO_OPEN_DASHBOARD": "false",
        "PYTHONPATH": str(project),
    }
    subprocess.run([ZENML, "init"], cwd=project, env=env, check=True, capture_output=True)
    return env


def project_dir(env: dict[str, str]) -> Path:
    """The project copy (ZenML repository and working directory) of a `zenml_env` environment."""
    return Path(env["ZENML_REPOSITORY_PATH"])


def zenml_run(env: dict[str, str], *args: str, timeout: int = 900) -> tuple[int, str]:
    """(exit code, stdout + stderr without colour codes) of `zenml *args` in the environment's project copy."""
    proc = subprocess.run(
        [ZENML, *args], cwd=project_dir(env), env=env, capture_output=True, text=True, timeout=timeout
    )
    return proc.returncode, re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
