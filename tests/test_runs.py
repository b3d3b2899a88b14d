"""`lmms runs`: a local run killed with kill -9 stays `running` in ZenML; `lmms runs` sees its recorded process gone
and marks it failed. Real runs in an isolated ZenML place (tests/zenml_cli.py), each killing its own process."""

import socket
import subprocess
import sys

import pytest

from pipelines.runs import dead_process
from tests.zenml_cli import project_dir, zenml_env

DOOMED = """
import os, signal, sys
from zenml import pipeline, step
from steps.process import record_process

@step(enable_cache=False)
def dies(record: bool) -> None:
    if record:
        record_process()
    os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no ZenML code runs after this

@pipeline(enable_cache=False)
def doomed(record: bool):
    dies(record)

doomed.with_options(run_name=sys.argv[1])(record=sys.argv[2] == "1")
"""

CHECK = """
from zenml.client import Client
runs = Client().list_pipeline_runs(hydrate=True)
print({r.name: (r.status.value, r.body.status_reason) for r in runs})
print([s.status.value for r in runs for s in r.steps.values()])
"""


def _python(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=project_dir(env), env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_dead_process_needs_a_recorded_pid_on_this_host():
    meta = {"orchestrator_pid": 123, "orchestrator_host": "here"}
    assert dead_process(meta, "here", alive=lambda pid: False) == "its process 123 on here no longer exists"
    assert dead_process(meta, "here", alive=lambda pid: True) is None
    assert dead_process(meta, "elsewhere", alive=lambda pid: False) is None  # another machine's: not ours to judge
    assert dead_process({}, "here", alive=lambda pid: False) is None


@pytest.mark.slow
def test_killed_local_run_is_marked_failed(tmp_path):
    env = zenml_env(tmp_path)
    (project_dir(env) / "doomed.py").write_text(DOOMED)
    for name, record in (("doomed-recorded", "1"), ("doomed-unrecorded", "0")):
        proc = _python(env, "doomed.py", name, record)
        assert proc.returncode == -9, proc.stderr[-2000:]
    out = _python(env, "-m", "components.cli", "runs")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = {line.split()[0]: line for line in out.stdout.splitlines()}
    host = socket.gethostname()
    assert " failed " in lines["doomed-recorded"] and "marked failed: its process" in lines["doomed-recorded"]
    assert f"on {host} no longer exists" in lines["doomed-recorded"]
    assert " running " in lines["doomed-unrecorded"]
    assert "lmms runs --fail doomed-unrecorded" in lines["doomed-unrecorded"]
    # by hand, for a run without a recorded process; then both stay failed
    fail = _python(env, "-m", "components.cli", "runs", "--fail", "doomed-unrecorded")
    assert fail.returncode == 0 and "doomed-unrecorded: marked failed" in fail.stdout, fail.stderr[-2000:]
    check = _python(env, "-c", CHECK)
    assert check.returncode == 0, check.stderr[-2000:]
    statuses, steps = check.stdout.strip().splitlines()[-2:]
    status = eval(statuses)  # a dict literal printed above
    assert status["doomed-recorded"][0] == status["doomed-unrecorded"][0] == "failed"
    assert "no longer exists" in status["doomed-recorded"][1]
    assert "running" not in steps
