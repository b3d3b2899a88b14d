"""UI-started jobs: each a detached process group with a record on disk, so a job outlives the browser tab and the UI
process, and a new UI (or a reload) finds it again.

A job directory `<jobs_dir>/<id>/` holds `job.json` (argv, working directory, config, log path, pid / process group,
process start time, attempts, ZenML run names, the state), `log.txt` (stdout and stderr of every attempt) and, once
the command ends, `exit_code`. The command runs under a small wrapper (this file run as a script: `jobs.py wrap ...`)
that is the group leader and writes the exit code, so the outcome of a job started by a UI that is gone since is still
known. Stop signals the whole group (SIGTERM, then SIGKILL after a grace period) and records `stopped`. Resume starts
the same argv again as a new attempt (the finetune step resumes from its run directory's last complete checkpoint).

Commands are argv lists only: nothing here goes through a shell. Linux process bookkeeping (/proc) is used where it
exists; elsewhere `os.killpg(pgid, 0)` tells whether a group is there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

RUNNING, COMPLETED, FAILED, STOPPED = "running", "completed", "failed", "stopped"
# the wrapper runs this file as a script (stdlib only), whatever the job's working directory and PYTHONPATH
WRAPPER = str(Path(__file__).resolve())
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


@dataclass
class Job:
    id: str
    argv: list[str]
    cwd: str
    log: str
    name: str = ""
    config: str | None = None  # the config file the job runs (a copy in the job directory)
    pid: int | None = None  # the wrapper: process group leader, so pgid == pid
    pid_start: str | None = None  # the process's start time (/proc/<pid>/stat), against pid reuse
    state: str = RUNNING
    exit_code: int | None = None
    attempts: int = 1
    run_names: list[str] = field(default_factory=list)  # the ZenML run of each attempt
    started: float = 0.0
    ended: float | None = None
    reason: str = ""

    @property
    def pgid(self) -> int | None:
        return self.pid


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat fields after the command name (state first), or None where there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def process_start(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[19] if fields else None  # field 22 of stat: start time in clock ticks since boot


def _reap(pid: int) -> None:
    """Collect `pid`'s exit status where it is our own child (a zombie otherwise still counts as a process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group `pgid`."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            return [pgid]
        return [pgid]
    out = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry.name))
    return out


def _pid_alive(pid: int, start: str | None) -> bool:
    _reap(pid)
    fields = _stat(pid)
    if fields is None:
        if Path("/proc").is_dir():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return fields[0] != "Z" and (start is None or fields[19] == start)


class JobManager:
    """Jobs under `jobs_dir`; a new manager on the same folder sees the jobs of an earlier one (a restarted UI)."""

    def __init__(self, jobs_dir: str | Path, grace_s: float = 10.0):
        self.dir = Path(jobs_dir).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.grace_s = grace_s

    # records
    def _job_dir(self, job_id: str) -> Path:
        if not _ID.match(job_id):
            raise ValueError(f"{job_id!r}: not a job id")
        return self.dir / job_id

    def _save(self, job: Job) -> None:
        path = self._job_dir(job.id) / "job.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(job), indent=2))
        tmp.replace(path)  # atomic: a reader never sees half a record

    def get(self, job_id: str) -> Job:
        path = self._job_dir(job_id) / "job.json"
        if not path.is_file():
            raise KeyError(f"no job {job_id!r} under {self.dir}")
        return self._refresh(Job(**json.loads(path.read_text())))

    def list(self) -> list[Job]:
        jobs = []
        for path in self.dir.glob("*/job.json"):
            try:
                jobs.append(self.get(path.parent.name))
            except (KeyError, ValueError, json.JSONDecodeError, TypeError):
                continue  # a record being written or not ours
        return sorted(jobs, key=lambda j: j.started, reverse=True)

    def _refresh(self, job: Job) -> Job:
        """A running job whose wrapper is gone: completed / failed by its exit code (none: it was killed)."""
        if job.state != RUNNING or job.pid is None or _pid_alive(job.pid, job.pid_start):
            return job
        code_file = self._job_dir(job.id) / "exit_code"
        code = int(code_file.read_text().strip()) if code_file.is_file() else None
        job.exit_code, job.ended = code, time.time()
        if code == 0:
            job.state = COMPLETED
        else:
            job.state = FAILED
            job.reason = f"exit code {code}" if code is not None else "its process ended without an exit code (killed)"
        self._save(job)
        return job

    # processes
    def _spawn(self, job: Job, env: dict[str, str] | None) -> None:
        jdir = self._job_dir(job.id)
        (jdir / "exit_code").unlink(missing_ok=True)
        with open(job.log, "ab") as log:
            log.write(f"\n=== attempt {job.attempts}: {' '.join(job.argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                [sys.executable, WRAPPER, "wrap", str(jdir / "exit_code"), "--", *job.argv],
                cwd=job.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own session and process group: Stop signals the group, the UI's
                # Ctrl-C does not reach it
            )
        job.pid, job.pid_start = proc.pid, process_start(proc.pid)
        job.state, job.exit_code, job.ended, job.reason = RUNNING, None, None, ""
        job.started = job.started or time.time()
        self._save(job)

    def start(
        self,
        argv: list[str],
        cwd: str | Path,
        name: str = "",
        config_text: str | None = None,
        run_name: str | None = None,
        env: dict[str, str] | None = None,
        job_id: str | None = None,
    ) -> Job:
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("a job's command is a non-empty list of strings (argv), never a shell string")
        job_id = job_id or self.new_id()
        jdir = self._job_dir(job_id)
        jdir.mkdir(parents=True, exist_ok=False)
        config = None
        if config_text is not None:  # the config the command reads (argv names job_dir(job_id) / "config.yaml")
            config = str(jdir / "config.yaml")
            Path(config).write_text(config_text)
        job = Job(id=job_id, argv=list(argv), cwd=str(Path(cwd).resolve()), log=str(jdir / "log.txt"), name=name,
                  config=config, run_names=[run_name] if run_name else [], started=time.time())  # fmt: skip
        self._spawn(job, env)
        return job

    def job_dir(self, job_id: str) -> Path:
        """The folder of a job (made by `start`): job.json, log.txt, config.yaml, exit_code."""
        return self._job_dir(job_id)

    @staticmethod
    def new_id() -> str:
        return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)

    def stop(self, job_id: str) -> Job:
        """SIGTERM to the whole process group, SIGKILL to what is left after the grace period; recorded `stopped`."""
        job = self.get(job_id)
        if job.state != RUNNING or job.pgid is None:
            return job
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while group_members(job.pgid) and time.monotonic() < deadline:
            _reap(job.pid)
            time.sleep(0.1)
        if group_members(job.pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.pgid, signal.SIGKILL)
            while group_members(job.pgid) and time.monotonic() < deadline + 5:
                time.sleep(0.05)
        _reap(job.pid)
        job.state, job.ended, job.reason = STOPPED, time.time(), "stopped from the UI"
        self._save(job)
        return job

    def resume(self, job_id: str, run_name: str | None = None, env: dict[str, str] | None = None) -> Job:
        """The same command again, as the next attempt of a stopped or failed job."""
        job = self.get(job_id)
        if job.state not in (STOPPED, FAILED):
            raise ValueError(f"job {job_id} is {job.state}: only a stopped or failed job can be resumed")
        job.attempts += 1
        if run_name:
            job.run_names.append(run_name)
        self._spawn(job, env)
        return job

    def log_tail(self, job_id: str, max_bytes: int = 20_000) -> str:
        path = Path(self.get(job_id).log)
        if not path.is_file():
            return ""
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - max_bytes))
            return f.read().decode("utf-8", "replace")


def _wrap(argv: list[str]) -> int:
    """`wrap EXIT_FILE -- CMD...`: run CMD in this process group, write its exit code to EXIT_FILE."""
    exit_file, sep, cmd = argv[0], argv[1], argv[2:]
    if sep != "--" or not cmd:
        print("usage: jobs.py wrap EXIT_FILE -- CMD...", file=sys.stderr)
        return 2
    try:
        code = subprocess.call(cmd)
    except OSError as e:
        print(f"cannot start {cmd[0]}: {e}", file=sys.stderr)
        code = 127
    code = 128 - code if code < 0 else code  # killed by a signal: 128 + signal, as a shell reports it
    Path(exit_file).write_text(f"{code}\n")
    return code


if __name__ == "__main__":
    if sys.argv[1:2] != ["wrap"]:
        print("usage: jobs.py wrap EXIT_FILE -- CMD...", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(_wrap(sys.argv[2:]))
