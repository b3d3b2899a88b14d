"""The UI's job manager (components/ui/jobs.py) on a dummy long command: a detached process group with a record on
disk, found again by a new manager (a restarted UI), stopped as a whole group, resumed as a new attempt."""

from __future__ import annotations

import sys
import time

import pytest

from components.ui.jobs import COMPLETED, FAILED, RUNNING, STOPPED, JobManager, group_members

# a parent that starts a child in its group, both sleeping: Stop must end the grandchild too
LONG = [
    sys.executable, "-c",
    "import subprocess, sys, time; print('sta' + 'rted', flush=True); "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)",
]  # fmt: skip


def _wait(cond, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_start_reattach_stop_resume(tmp_path):
    jobs = JobManager(tmp_path / "jobs", grace_s=5)
    job = jobs.start(LONG, cwd=tmp_path, name="dummy", run_name="run-1")
    assert job.state == RUNNING and job.pid and job.pgid == job.pid
    assert _wait(lambda: len(group_members(job.pgid)) >= 3), group_members(job.pgid)  # wrapper, parent, child
    assert _wait(lambda: "started" in jobs.log_tail(job.id))

    # a restarted UI: a new manager on the same folder finds the job running, with its record
    again = JobManager(tmp_path / "jobs", grace_s=5)
    [found] = again.list()
    assert (found.id, found.state, found.pid, found.run_names) == (job.id, RUNNING, job.pid, ["run-1"])

    members = group_members(job.pgid)
    stopped = again.stop(job.id)
    assert stopped.state == STOPPED and stopped.reason
    assert group_members(job.pgid) == []  # the whole process group is gone, grandchild included
    assert members and not any(_alive(pid) for pid in members)
    assert JobManager(tmp_path / "jobs").get(job.id).state == STOPPED  # what the record says after a reload

    resumed = again.resume(job.id, run_name="run-2")
    assert resumed.state == RUNNING and resumed.attempts == 2 and resumed.run_names == ["run-1", "run-2"]
    assert resumed.pid != job.pid
    assert _wait(lambda: jobs.log_tail(job.id).count("started") == 2)
    assert "=== attempt 2" in jobs.log_tail(job.id)
    with pytest.raises(ValueError, match="only a stopped or failed job"):
        again.resume(job.id)
    again.stop(job.id)
    assert group_members(resumed.pgid) == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_exit_codes_are_recorded_even_for_a_new_manager(tmp_path):
    jobs = JobManager(tmp_path / "jobs")
    ok = jobs.start([sys.executable, "-c", "print('fine')"], cwd=tmp_path)
    bad = jobs.start([sys.executable, "-c", "import sys; sys.exit(3)"], cwd=tmp_path)
    fresh = JobManager(tmp_path / "jobs")  # the outcome is read from the wrapper's exit_code file, not a child wait
    assert _wait(lambda: fresh.get(ok.id).state != RUNNING and fresh.get(bad.id).state != RUNNING)
    assert (fresh.get(ok.id).state, fresh.get(ok.id).exit_code) == (COMPLETED, 0)
    failed = fresh.get(bad.id)
    assert (failed.state, failed.exit_code, failed.reason) == (FAILED, 3, "exit code 3")
    assert "fine" in fresh.log_tail(ok.id)
    fresh.resume(bad.id)  # a failed job resumes too
    assert _wait(lambda: fresh.get(bad.id).state == FAILED) and fresh.get(bad.id).attempts == 2


def test_commands_are_argv_lists_and_ids_are_checked(tmp_path):
    jobs = JobManager(tmp_path / "jobs")
    with pytest.raises(ValueError, match="argv"):
        jobs.start("sleep 10; rm -rf /", cwd=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a job id"):
        jobs.get("../etc")
    with pytest.raises(KeyError):
        jobs.get("nosuchjob")
    # a command that does not exist: the job fails with the wrapper's 127, it does not hang
    job = jobs.start(["/nonexistent/binary"], cwd=tmp_path)
    assert _wait(lambda: jobs.get(job.id).state == FAILED)
    assert jobs.get(job.id).exit_code == 127 and "cannot start" in jobs.log_tail(job.id)
