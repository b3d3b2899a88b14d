"""A ZenML orchestrator flavor that runs every step the way a container orchestrator (Kubernetes, Kubeflow, Vertex)
does, on this machine: each step in its own process, launched through ZenML's own step entrypoint
(`python -m zenml.entrypoints.entrypoint` with the arguments `StepEntrypointConfiguration` builds), in its own "pod":
an empty HOME, TMPDIR, $LMMS_CACHE, HF cache, and a working directory holding a fresh copy of the code. A pod is
deleted when its step ends, before the next step starts, so a step sees nothing an earlier one wrote except through
the artifact store, the ZenML store and the MLflow server. A step whose config has `retry.max_retries` is retried in
a fresh pod, as Kubernetes retries a failed pod.

Only the tests use it (tests/cloud_stack.py registers it): the production path stays ZenML's Kubernetes / Kubeflow /
Vertex orchestrators, this only imitates their isolation.

The one departure from ZenML's stock step entrypoint: it changes into `/app` (the code folder of ZenML's Docker
images, there the source root), which here would be one folder shared by every step; `PodStepEntrypointConfiguration`
keeps the pod's own working directory as the source root instead. Everything else is ZenML's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from uuid import uuid4

from zenml.entrypoints.step_entrypoint_configuration import StepEntrypointConfiguration
from zenml.enums import ExecutionMode
from zenml.logger import get_logger
from zenml.orchestrators import BaseOrchestrator, BaseOrchestratorConfig, BaseOrchestratorFlavor
from zenml.utils import source_utils

from tests.zenml_cli import SOURCE

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse, PipelineSnapshotResponse
    from zenml.stack import Stack

logger = get_logger(__name__)

RUN_ID_ENV = "LMMS_POD_ORCHESTRATOR_RUN_ID"
# What a pod inherits from the machine: the interpreter and the read-only shared assets (as an image or a volume
# would provide them); nothing of the user's HOME, caches or working directory.
PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "LMMS_SHARED", "ZENML_CONFIG_PATH", "ZENML_ANALYTICS_OPT_IN", "TZ")
LOG_FILE = "pods.jsonl"


class PodStepEntrypointConfiguration(StepEntrypointConfiguration):
    """ZenML's step entrypoint, run from the pod's own working directory, which is the source root (the stock one
    changes into `/app`, the code folder of ZenML's images, where it is the source root)."""

    def prepare_code_environment(self) -> None:
        cwd = os.getcwd()
        source_utils.set_custom_source_root(cwd)
        if cwd not in sys.path:
            sys.path.insert(0, cwd)


class PodOrchestratorConfig(BaseOrchestratorConfig):
    """`root`: where the pods (per-step folders) are made; `keep_pods`: leave them for inspection;
    `service_account_env`: names of variables copied from the submitting environment into every pod, as a cluster
    mounts a service account's secret as environment variables (the values never enter the stack's config)."""

    root: str
    keep_pods: bool = False
    service_account_env: list[str] = []

    @property
    def is_local(self) -> bool:
        return True

    @property
    def is_synchronous(self) -> bool:
        return True


def pod_env(pod: Path, code: Path, step_environment: dict[str, str]) -> dict[str, str]:
    """The environment of a step's process: empty per-pod folders, the code copy as the only source of Python code."""
    dirs = {k: pod / k.lower() for k in ("HOME", "TMPDIR", "LMMS_CACHE", "HF_HOME")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
    env.update({k: str(v) for k, v in dirs.items()})
    env.update(step_environment)
    env.update(
        PYTHONPATH=str(code),
        XDG_CACHE_HOME=str(dirs["HOME"] / ".cache"),
        AUTO_OPEN_DASHBOARD="false",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
    )
    return env


class PodOrchestrator(BaseOrchestrator):
    """Runs the steps one after another (ZenML's order), each in a fresh pod (see the module docstring)."""

    @property
    def config(self) -> PodOrchestratorConfig:
        return self._config  # type: ignore[return-value]

    def get_orchestrator_run_id(self) -> str:
        try:
            return os.environ[RUN_ID_ENV]
        except KeyError:
            raise RuntimeError(f"{RUN_ID_ENV} is not set: not inside a pod of this orchestrator") from None

    def submit_pipeline(
        self,
        snapshot: PipelineSnapshotResponse,
        stack: Stack,
        base_environment: dict[str, str],
        step_environments: dict[str, dict[str, str]],
        placeholder_run: PipelineRunResponse | None = None,
    ) -> None:
        run_id = str(uuid4())
        run_root = Path(self.config.root) / run_id
        run_root.mkdir(parents=True)
        source = Path(source_utils.get_source_root())
        failed: list[str] = []
        for step_name, step in snapshot.step_configurations.items():
            if failed and (
                snapshot.pipeline_configuration.execution_mode != ExecutionMode.CONTINUE_ON_FAILURE
                or set(failed) & set(step.spec.upstream_steps)
            ):
                logger.warning("Skipping step %s: upstream step(s) %s failed", step_name, ", ".join(failed))
                failed.append(step_name)
                continue
            retries = step.config.retry.max_retries if step.config.retry else 0
            for attempt in range(retries + 1):
                rc = self._run_pod(run_root, run_id, step_name, attempt, snapshot, source, step_environments)
                if rc == 0:
                    break
            if rc != 0:
                failed.append(step_name)
        if failed:
            raise RuntimeError(f"Pipeline run has failed due to failure in step(s): {', '.join(failed)}")

    def _run_pod(self, run_root, run_id, step_name, attempt, snapshot, source, step_environments) -> int:
        pod = run_root / f"{step_name}-{attempt}"
        code = pod / "app"
        code.mkdir(parents=True)
        for name in SOURCE:
            if (source / name).is_dir():
                shutil.copytree(source / name, code / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif (source / name).exists():
                shutil.copy2(source / name, code / name)
        account = {k: os.environ[k] for k in self.config.service_account_env if k in os.environ}
        env = pod_env(pod, code, {**account, **step_environments[step_name], RUN_ID_ENV: run_id})
        cmd = [
            sys.executable,
            "-m",
            "zenml.entrypoints.entrypoint",
            *PodStepEntrypointConfiguration.get_entrypoint_arguments(step_name=step_name, snapshot_id=snapshot.id),
        ]
        logger.info("Running step `%s` in pod %s (attempt %d)", step_name, pod, attempt)
        start = time.time()
        proc = subprocess.run(cmd, cwd=code, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout.splitlines():
            logger.info("[%s] %s", step_name, line)
        log = Path(self.config.root) / f"{run_id}-{step_name}-{attempt}.log"  # outlives the pod, like a pod's log
        log.write_text(proc.stdout)
        record = {"step": step_name, "attempt": attempt, "pod": str(pod), "rc": proc.returncode, "start": start}
        record["log"] = str(log)
        if not self.config.keep_pods:
            shutil.rmtree(pod)
        record |= {"end": time.time(), "deleted": not pod.exists()}
        with open(Path(self.config.root) / LOG_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")
        return proc.returncode


class PodOrchestratorFlavor(BaseOrchestratorFlavor):
    NAME: ClassVar[str] = "lmms_pods"

    @property
    def name(self) -> str:
        return self.NAME

    @property
    def config_class(self) -> type[PodOrchestratorConfig]:
        return PodOrchestratorConfig

    @property
    def implementation_class(self) -> type[PodOrchestrator]:
        return PodOrchestrator
