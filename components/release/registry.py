"""MLflow: log params and metrics, register the checkpoint (pyfunc wrapper + safetensors) as a model version."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from components.artifacts import Checkpoint
from components.config import RunConfig

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
PYFUNC_MODEL = Path(__file__).resolve().parent / "pyfunc_model.py"
CONSTRAINTS = ROOT / "constraints.txt"
# The distributions the pyfunc wrapper imports when it loads and predicts (tests/test_serving.py checks this list
# against what loading it really imports), pinned to the versions this environment runs.
PYFUNC_REQUIREMENTS = (
    "mlflow",
    "torch",
    "torchvision",
    "transformers",
    "tokenizers",
    "safetensors",
    "huggingface_hub",
    "accelerate",
    "peft",
    "pillow",
    "av",
    "numpy",
    "pandas",
    "pydantic",
    "pydantic_core",  # components/config.py imports it directly
    "PyYAML",
    "jinja2",
    "fsspec",  # components/storage.py (object-store paths in media loading) imports it directly
)
# What the registered model takes and returns: one row per request (a prompt, optional image / video paths), one
# generated answer per row; `max_new_tokens` and `num_frames` as inference parameters.
SIGNATURE = ModelSignature(
    inputs=Schema(
        [ColSpec("string", "prompt"), ColSpec("string", "image", required=False), ColSpec("string", "video", False)]
    ),
    outputs=Schema([ColSpec("string")]),
    params=ParamSchema([ParamSpec("max_new_tokens", "long", 32), ParamSpec("num_frames", "long", 8)]),
)


PROJECT_TRACKING_URI = f"sqlite:///{ROOT / 'mlflow.db'}"  # the project root's mlflow.db, as infra/setup_stack.sh


def default_tracking_uri() -> str:
    """`$MLFLOW_TRACKING_URI`, else the project root's `mlflow.db` (as infra/setup_stack.sh registers it)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or PROJECT_TRACKING_URI


def absolute_uri(uri: str) -> str:
    """A sqlite or file URI with a relative path made absolute against the current folder (the folder it would
    silently depend on); other URIs as they are."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////") and uri != "sqlite:///:memory:":
        return f"sqlite:///{Path(uri[len('sqlite:///') :]).absolute()}"
    if uri.startswith("file:") and not uri.startswith("file:/"):
        return Path(uri[len("file:") :]).absolute().as_uri()
    if "://" not in uri and not uri.startswith(("databricks", "sqlite")):
        return Path(uri).absolute().as_uri()  # a plain folder: MLflow's file store
    return uri


def tracking_uri(cfg: RunConfig) -> str:
    """The run's MLflow tracking / registry URI, absolute: `registry.tracking_uri`, else `default_tracking_uri()`."""
    uri = absolute_uri(cfg.registry.tracking_uri or default_tracking_uri())
    log.info("MLflow tracking URI: %s", uri)
    return uri


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: `mlruns/` beside a sqlite database (not the current folder)."""
    if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        return (Path(uri[len("sqlite:///") :]).parent / "mlruns").as_uri()
    return None


def _constraints(path: Path = CONSTRAINTS) -> dict[str, str]:
    pins = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
            if m:
                pins[_canonical(m.group(1))] = m.group(2)
    return pins


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements(names=PYFUNC_REQUIREMENTS, constraints: Path = CONSTRAINTS) -> list[str]:
    """`name==version` for each distribution: the version constraints.txt pins (what `make install` installs), else
    the installed one; an error when the two disagree (the model would be served with other versions than it ran)."""
    pins = _constraints(constraints)
    out = []
    for name in names:
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise RuntimeError(f"{name} is not installed; the pyfunc model needs it") from None
        pinned = pins.get(_canonical(name))
        if pinned is not None and pinned.split("+")[0] != installed.split("+")[0]:
            raise RuntimeError(
                f"{name}: constraints.txt pins {pinned} but {installed} is installed; reinstall (`make install`) so "
                "the registered model's requirements are the versions it runs with"
            )
        out.append(f"{name}=={pinned or installed.split('+')[0]}")
    return out


def registry_client(cfg: RunConfig):
    """An MlflowClient on the run's tracking / registry URI."""

    uri = tracking_uri(cfg)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _finished_run_with_model(client, experiment_id: str, sha: str):
    """A finished run that logged this checkpoint but whose model was never registered (a registration that failed
    after logging), if any."""

    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.checkpoint_sha = '{sha}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs or client.search_model_versions(f"run_id = '{runs[0].info.run_id}'"):
        return None, None  # none, or registered already (under another model name): log afresh
    models = mlflow.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string=f"source_run_id = '{runs[0].info.run_id}' AND name = 'model'",
        output_format="list",
    )
    return (runs[0].info.run_id, models[0].model_uri) if models else (None, None)


def register(cfg: RunConfig, ckpt: Checkpoint, metrics: dict, run_name: str | None = None) -> dict:
    """Registers a new version, or returns the existing one if this exact checkpoint was registered before.

    Idempotent on the checkpoint's content hash: a retry never creates a second version, and a retry after a failure
    between logging and registering reuses the run that logged the model instead of logging it again."""

    uri = tracking_uri(cfg)
    client = registry_client(cfg)
    name = cfg.registry.model_name
    alias = cfg.registry.alias
    sha = ckpt.content_hash()
    if client.search_registered_models(filter_string=f"name = '{name}'"):
        for v in client.search_model_versions(f"name = '{name}' and tag.checkpoint_sha = '{sha}'"):
            log.info("checkpoint %s already registered as %s v%s", sha[:12], name, v.version)
            if alias:
                client.set_registered_model_alias(name, alias, v.version)
            return {
                "model_name": name,
                "version": int(v.version),
                "run_id": v.run_id,
                "reused": True,
                "tracking_uri": uri,
            }

    exp = mlflow.get_experiment_by_name(cfg.registry.experiment)
    if exp is None:
        mlflow.create_experiment(cfg.registry.experiment, artifact_location=artifact_location(uri))
        exp = mlflow.get_experiment_by_name(cfg.registry.experiment)
    mlflow.set_experiment(cfg.registry.experiment)
    run_id, model_uri = _finished_run_with_model(client, exp.experiment_id, sha)
    if run_id is None:
        with mlflow.start_run(run_name=run_name) as run:
            params = {k: str(v)[:500] for k, v in _flatten(cfg.model_dump()).items()}
            mlflow.log_params(params)
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))})
            mlflow.set_tags({"checkpoint_sha": sha, "family": ckpt.family or ""})
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PYFUNC_MODEL),
                artifacts={"checkpoint": ckpt.path},
                code_paths=[str(ROOT / "components")],
                pip_requirements=pinned_requirements(),
                signature=SIGNATURE,
            )
        run_id, model_uri = run.info.run_id, info.model_uri
    else:
        log.info("checkpoint %s already logged by run %s; registering that model", sha[:12], run_id)
    mv = mlflow.register_model(model_uri, name, tags={"checkpoint_sha": sha})
    if alias:
        client.set_registered_model_alias(name, alias, mv.version)
    return {"model_name": name, "version": int(mv.version), "run_id": run_id, "reused": False, "tracking_uri": uri}


def aliases(client, name: str, version: int) -> list[str]:
    """The aliases that point at `name` v`version` now."""
    return sorted(client.get_model_version(name, str(version)).aliases)
