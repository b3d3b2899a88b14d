"""Running the `zenml` CLI from tests: an isolated ZenML config (temporary ZENML_CONFIG_PATH, analytics off) and the
repository as source root, the way a user runs `zenml pipeline run` from a checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZENML = str(Path(sys.executable).parent / "zenml")


def zenml_env(config_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "ZENML_CONFIG_PATH": str(config_dir),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "AUTO_OPEN_DASHBOARD": "false",
        "PYTHONPATH": str(ROOT),
    }
    if not (ROOT / ".zen").exists():
        subprocess.run([ZENML, "init"], cwd=ROOT, env=env, check=True, capture_output=True)
    return env


def zenml_run(env: dict[str, str], *args: str, timeout: int = 900) -> tuple[int, str]:
    """(exit code, stdout + stderr without colour codes) of `zenml *args` in the repository root."""
    proc = subprocess.run([ZENML, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
