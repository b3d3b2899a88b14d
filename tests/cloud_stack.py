"""A stack that behaves like a cloud cluster, served on loopback and started by the tests themselves:

- a real S3 API (moto's server, a subprocess) holding the ZenML artifact store bucket, a data bucket and MLflow's
  artifacts; its credentials reach ZenML through a ZenML secret (the artifact store's `authentication_secret`), its
  endpoint through the store's `client_kwargs`;
- a real `mlflow server` (sqlite backend in the test's folder, `--artifacts-destination s3://...` on the same S3) as
  the stack's experiment tracker and model registry;
- the pod orchestrator (tests/isolated_orchestrator.py): each step in its own process with its own empty HOME,
  TMPDIR, $LMMS_CACHE, HF cache and a fresh copy of the code, through ZenML's step entrypoint;

all in an isolated ZenML config and store and a temporary copy of the project (tests/zenml_cli.py). `cloud_stack`
starts it; `CloudStack.stop` stops the servers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from tests.zenml_cli import project_dir, zenml_env, zenml_run

BIN = Path(sys.executable).parent
ARTIFACT_BUCKET = "lmms-artifacts"
DATA_BUCKET = "lmms-data"
MLFLOW_BUCKET = "lmms-mlflow"
# moto accepts any key; these stand in for a cloud account's credentials (never in a config file or a log)
ACCESS_KEY = "AKIALMMSTESTSTACK000"
SECRET_KEY = "lmms-test-stack-secret-key-not-real"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


def _start(cmd: list[str], log: Path, env: dict[str, str], health: str) -> subprocess.Popen:
    with open(log, "w") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    _wait_http(health, proc, log)
    return proc


def s3_env(endpoint: str, key: str = ACCESS_KEY, secret: str = SECRET_KEY) -> dict[str, str]:
    """What a pod of a cloud cluster gets from its service account: credentials and the S3 endpoint in the env."""
    return {
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,  # boto3 / s3fs / mlflow read it
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
    }


@dataclass
class CloudStack:
    tmp: Path
    s3_endpoint: str
    tracking_uri: str
    env: dict[str, str]  # the ZenML CLI environment of the project copy (tests/zenml_cli.py)
    pods_root: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def project(self) -> Path:
        return project_dir(self.env)

    def s3(self):
        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def upload_tree(self, local: Path, bucket: str, prefix: str) -> str:
        """Every file under `local` to s3://bucket/prefix/...; returns the prefix's URI."""
        s3 = self.s3()
        for p in sorted(local.rglob("*")):
            if p.is_file():
                s3.upload_file(str(p), bucket, f"{prefix}/{p.relative_to(local)}")
        return f"s3://{bucket}/{prefix}"

    def pods(self) -> list[dict]:
        """The pod orchestrator's record: one entry per step attempt (step, pod folder, rc, start, end, deleted)."""
        log = self.pods_root / "pods.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []

    def zenml(self, *args: str, timeout: int = 1800) -> tuple[int, str]:
        return zenml_run(self.env, *args, timeout=timeout)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


# The stack's registration, as the `zenml secret create`, `zenml flavor register`, `zenml <component> register` and
# `zenml stack register --set` commands would do it, in one process through ZenML's Client (each CLI call costs a
# ZenML start-up, several seconds on a loaded machine). The credentials come from the environment, not the command.
_REGISTER = """
import json, os, sys
from zenml.client import Client
from zenml.enums import StackComponentType as T
bucket, region, endpoint, tracking, pods, account = sys.argv[1:7]
c = Client()
c.create_secret("lmms_s3", values={"aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
                                   "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"]})
c.create_stack_component("s3_store", "s3", T.ARTIFACT_STORE, {"path": f"s3://{bucket}/zenml",
    "authentication_secret": "lmms_s3", "client_kwargs": {"endpoint_url": endpoint, "region_name": region}})
c.create_flavor("tests.isolated_orchestrator.PodOrchestratorFlavor", T.ORCHESTRATOR)
c.create_stack_component("pods", "lmms_pods", T.ORCHESTRATOR, {"root": pods,
    "service_account_env": json.loads(account)})
c.create_stack_component("mlflow_server", "mlflow", T.EXPERIMENT_TRACKER, {"tracking_uri": tracking,
    "tracking_username": "lmms", "tracking_password": "lmms"})
c.create_stack_component("mlflow_server_registry", "mlflow", T.MODEL_REGISTRY, {})
c.create_stack("cloud", components={T.ORCHESTRATOR: "pods", T.ARTIFACT_STORE: "s3_store",
    T.EXPERIMENT_TRACKER: "mlflow_server", T.MODEL_REGISTRY: "mlflow_server_registry"})
c.activate_stack("cloud")
"""


def _register(env: dict[str, str], endpoint: str, tracking: str, pods: Path) -> None:
    account = json.dumps(sorted(s3_env(endpoint)))
    cmd = [sys.executable, "-c", _REGISTER, ARTIFACT_BUCKET, REGION, endpoint, tracking, str(pods), account]
    proc = subprocess.run(cmd, cwd=project_dir(env), env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"registering the cloud stack failed:\n{(proc.stdout + proc.stderr)[-3000:]}")


def start_cloud_stack(tmp: Path) -> CloudStack:
    """Start S3 and MLflow servers on free loopback ports and register them, with the pod orchestrator, as the active
    stack of a fresh ZenML place under `tmp`."""
    tmp.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    try:
        s3_port = free_port()
        endpoint = f"http://127.0.0.1:{s3_port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
        procs.append(
            _start(
                [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)],
                tmp / "s3.log",
                base,
                f"{endpoint}/moto-api/",
            )
        )
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        for bucket in (ARTIFACT_BUCKET, DATA_BUCKET, MLFLOW_BUCKET):
            s3.create_bucket(Bucket=bucket)

        ml_port = free_port()
        tracking = f"http://127.0.0.1:{ml_port}"
        (tmp / "mlflow").mkdir()
        procs.append(
            _start(
                [
                    str(BIN / "mlflow"),
                    "server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ml_port),
                    "--workers",
                    "1",
                    "--backend-store-uri",
                    f"sqlite:///{tmp / 'mlflow' / 'mlflow.db'}",
                    "--artifacts-destination",
                    f"s3://{MLFLOW_BUCKET}/artifacts",
                ],
                tmp / "mlflow.log",
                {**base, **s3_env(endpoint)},
                f"{tracking}/health",
            )
        )

        # The user's shell holds the cloud credentials (the client fingerprints s3:// data); the pods get them as a
        # service account's environment (the orchestrator's service_account_env); the artifact store reads its own
        # from the ZenML secret, as a cloud stack's would come from a service connector.
        env = {**zenml_env(tmp / "zenml"), **s3_env(endpoint)}
        env = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
        pods = tmp / "pods"
        _register(env, endpoint, tracking, pods)
    except BaseException:
        for p in procs:
            p.kill()
        raise
    return CloudStack(tmp, endpoint, tracking, env, pods, procs)


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def start_locked_s3(tmp: Path) -> tuple[subprocess.Popen, str, tuple[str, str]]:
    """A second S3 API that checks credentials (moto's IAM enforcement), holding `lmms-locked/data/train.json`:
    (server, endpoint, (access key, secret) of the user allowed to read it). Any other key is refused."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    proc = _start([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], tmp / "locked.log", base,
                  f"{endpoint}/moto-api/")  # fmt: skip
    try:
        kw = {"endpoint_url": endpoint, "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY,
              "region_name": REGION}  # fmt: skip
        iam = boto3.client("iam", **kw)
        iam.create_user(UserName="reader")
        admin = json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        )
        iam.put_user_policy(UserName="reader", PolicyName="all", PolicyDocument=admin)
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        s3 = boto3.client("s3", **kw)
        s3.create_bucket(Bucket="lmms-locked")
        s3.put_object(Bucket="lmms-locked", Key="data/train.json", Body=b"[]")
        # from now on every request must carry the credentials of an IAM user
        urllib.request.urlopen(
            urllib.request.Request(
                f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
            )
        )
    except BaseException:
        proc.kill()
        raise
    return proc, endpoint, (key["AccessKeyId"], key["SecretAccessKey"])
