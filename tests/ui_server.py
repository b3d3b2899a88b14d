"""The web UI (`lmms ui`) served for tests: in an isolated ZenML place (tests/zenml_cli.py: a temporary copy of the
project with its own ZenML store; MLflow defaults to the copy's mlflow.db), on a free loopback port; and the Debian
Chromium the browser tests drive (never `playwright install`)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.ui.jobs import RUNNING, JobManager, group_members
from tests.zenml_cli import project_dir, zenml_env

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")
BROWSER_PATHS = ("/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 600) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=10):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class UIServer:
    url: str
    env: dict[str, str]
    proc: subprocess.Popen
    log: Path

    @property
    def project(self) -> Path:
        return project_dir(self.env)

    @property
    def jobs(self) -> JobManager:
        return JobManager(self.project / "outputs" / "ui" / "jobs")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_ui(tmp: Path) -> UIServer:
    env = zenml_env(tmp)
    port = free_port()
    log = tmp / "ui.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "components.cli", "ui", "--port", str(port)],
            cwd=project_dir(env), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url, proc)
    except (RuntimeError, TimeoutError) as e:
        stop_ui(UIServer(url, env, proc, log))
        raise RuntimeError(f"{e}\n{log.read_text(errors='replace')[-4000:]}") from None
    return UIServer(url, env, proc, log)


def stop_ui(server: UIServer) -> None:
    """The UI process, and every job it started that still runs (their own process groups)."""
    jobs = server.jobs
    for job in jobs.list():
        if job.state == RUNNING:
            jobs.stop(job.id)
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(10)


def browser_binary() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in BROWSER_PATHS if os.access(p, os.X_OK)), None)


def require_browser() -> str:
    """The Debian Chromium binary; without one the test skips, or fails under CI=true (CI must install it)."""
    path = browser_binary()
    if path is None:
        reason = (
            "no Chromium binary (" + ", ".join(BROWSERS) + "): `apt-get install -y --no-install-recommends "
            "chromium-headless-shell` (.ci/run does); `playwright install` is never used"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def processes_gone(pgid: int) -> bool:
    return group_members(pgid) == []
