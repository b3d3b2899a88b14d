"""MLflow: log params and metrics, register the checkpoint (pyfunc wrapper + safetensors) as a model version."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from components.artifacts import Checkpoint
from components.config import RunConfig

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
PYFUNC_MODEL = Path(__file__).resolve().parent / "pyfunc_model.py"


def tracking_uri(cfg: RunConfig) -> str:
    return cfg.registry.tracking_uri or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


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
            return {"model_name": name, "version": int(v.version), "run_id": v.run_id, "reused": True}

    exp = mlflow.get_experiment_by_name(cfg.registry.experiment)
    if exp is None:
        artifacts = f"file://{Path.cwd() / 'mlruns'}" if uri.startswith("sqlite") else None
        mlflow.create_experiment(cfg.registry.experiment, artifact_location=artifacts)
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
                pip_requirements=["torch", "transformers", "peft", "pillow", "av", "pandas"],
            )
        run_id, model_uri = run.info.run_id, info.model_uri
    else:
        log.info("checkpoint %s already logged by run %s; registering that model", sha[:12], run_id)
    mv = mlflow.register_model(model_uri, name, tags={"checkpoint_sha": sha})
    if alias:
        client.set_registered_model_alias(name, alias, mv.version)
    return {"model_name": name, "version": int(mv.version), "run_id": run_id, "reused": False}
