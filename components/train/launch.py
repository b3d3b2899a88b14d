"""Run `training.train` in one process, or in several through accelerate's launcher (DDP, DeepSpeed ZeRO-2/3).

One process (one GPU, or CPU) is a plain call in this process. More processes: the job (config, model path, media-cache
mapping) is written as JSON into the run directory, the dataset's rows beside it as shards (`job_dataset/`, streamed:
components.artifacts.write_dataset, read back lazily by every worker) and `accelerate launch --multi_gpu -m
components.train.launch job.json` starts the workers (torchrun underneath: NCCL on GPUs, gloo on CPU; DeepSpeed comes in
through the Trainer's `deepspeed` argument). Each worker rebuilds the datasets from the media cache, trains, and rank 0
writes `result.json`, which the parent returns. Nothing is pickled: the config is pydantic, the rows plain data.

`python -m components.train.launch job.json` outside a launch starts one: on each node of a multi-node run (node rank
from $NODE_RANK or a Kubernetes indexed job's $JOB_COMPLETION_INDEX, rank 0's address from the config, $MASTER_ADDR or
ZenML's multi-pod $ZENML_KUBERNETES_MAIN_ADDRESS), see docs/distributed.md.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
from pathlib import Path

import torch
from accelerate.commands.launch import launch_command, launch_command_parser

from components.artifacts import MediaCache, PreparedDataset, read_dataset, write_dataset
from components.config import DistributedConfig, RunConfig
from components.data.prepare import cached_loaders, cached_rows
from components.models.loading import ModelRef
from components.train.mirror import CheckpointMirror, pull_latest
from components.train.recipe import RowsDataset, TrainResult, model_ref, train

log = logging.getLogger(__name__)

JOB, RESULT, JOB_DATASET = "job.json", "result.json", "job_dataset"


def processes_per_node(d: DistributedConfig) -> int:
    if d.num_processes != "auto":
        return d.num_processes
    return max(torch.cuda.device_count(), 1)


def world_size(d: DistributedConfig) -> int:
    return processes_per_node(d) * d.num_nodes


def _env(*names: str) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def launch_args(d: DistributedConfig, job: str | Path) -> list[str]:
    """`accelerate launch` arguments for a multi-process run of `job` (accelerate counts processes over all nodes)."""
    args = ["--multi_gpu", "--num_processes", str(world_size(d)), "--num_machines", str(d.num_nodes)]
    args += ["--mixed_precision", "no", "--dynamo_backend", "no"]  # precision comes from the Trainer (train.precision)
    if d.num_nodes > 1:
        ip = d.main_process_ip or _env("MASTER_ADDR", "ZENML_KUBERNETES_MAIN_ADDRESS")
        if not ip:
            raise ValueError("multi-node training needs train.distributed.main_process_ip or $MASTER_ADDR")
        rank = _env("NODE_RANK", "JOB_COMPLETION_INDEX") or "0"
        port = d.main_process_port or _env("MASTER_PORT", "ZENML_KUBERNETES_MAIN_PORT") or "29500"
        args += ["--machine_rank", rank, "--main_process_ip", ip, "--main_process_port", str(port), "--same_network"]
    else:
        args += ["--main_process_port", str(d.main_process_port)]
    return [*args, "--module", "components.train.launch", str(job)]


def launch(d: DistributedConfig, job: Path) -> None:
    """Start this node's workers for `job` and wait; raises if any worker fails."""
    args = launch_args(d, job)
    log.info("accelerate launch %s", " ".join(args))
    launch_command(launch_command_parser().parse_args(args))


def _datasets(dataset: PreparedDataset, media: MediaCache):
    load_image, load_video = cached_loaders(media)
    train_ds = RowsDataset(cached_rows(dataset.train, media), load_image, load_video)
    eval_ds = RowsDataset(cached_rows(dataset.eval, media), load_image, load_video) if dataset.eval else None
    return train_ds, eval_ds


def _write_job_dataset(dataset: PreparedDataset, folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    write_dataset(dataset, folder)
    return folder


def write_job(
    cfg: RunConfig,
    model: ModelRef | str | Path,
    dataset: PreparedDataset,
    media: MediaCache,
    output_dir: Path,
    mirror: str | None = None,
) -> Path:
    """The job file a worker runs (`python -m components.train.launch JOB`); `mirror`: the URI rank 0 mirrors
    complete checkpoints to (components/train/mirror.py; credentials from the workers' environment)."""
    model = model_ref(cfg, model)
    output_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "config": cfg.model_dump(mode="json"),
        "model": dataclasses.asdict(model),
        "dataset": _write_job_dataset(dataset, output_dir / JOB_DATASET).name,  # beside the job file
        "media": dataclasses.asdict(media),
        "output_dir": str(output_dir.resolve()),
        "mirror": mirror,
    }
    (output_dir / JOB).write_text(json.dumps(spec))
    (output_dir / RESULT).unlink(missing_ok=True)
    return output_dir / JOB


def launch_training(
    cfg: RunConfig,
    model: ModelRef | str | Path,
    dataset: PreparedDataset,
    media: MediaCache,
    output_dir: str | Path,
    mirror: CheckpointMirror | None = None,
) -> TrainResult:
    """Train as configured by `cfg.train.distributed`; returns rank 0's result. `model`: the run's resolved model, or
    a checkpoint path (resolved under the run's model settings). `mirror`: complete checkpoints are also uploaded
    there (by rank 0; several processes rebuild it from its URI with their environment's credentials)."""
    model = model_ref(cfg, model)
    output_dir = Path(output_dir)
    if world_size(cfg.train.distributed) == 1:
        return train(cfg, model, *_datasets(dataset, media), output_dir, callbacks=[mirror] if mirror else ())
    launch(cfg.train.distributed, write_job(cfg, model, dataset, media, output_dir, mirror.root if mirror else None))
    r = json.loads((output_dir / RESULT).read_text())
    return TrainResult(Path(r["checkpoint"]), r["is_adapter"], r["base_model"], r["log_history"], r["metrics"])


def run_job(job: str | Path) -> TrainResult:
    """A worker: rebuild config and datasets from the job file and train; rank 0 writes the result."""
    spec = json.loads(Path(job).read_text())
    cfg = RunConfig.model_validate(spec["config"])
    dataset = read_dataset(Path(job).parent / spec["dataset"])
    media = MediaCache(**spec["media"])
    output_dir = Path(spec["output_dir"])
    callbacks = [CheckpointMirror(spec["mirror"])] if spec.get("mirror") else []
    result = train(cfg, ModelRef(**spec["model"]), *_datasets(dataset, media), output_dir, callbacks=callbacks)
    if int(os.environ.get("RANK", "0")) == 0:
        payload = {**dataclasses.asdict(result), "checkpoint": str(result.checkpoint)}
        tmp = output_dir / f".{RESULT}.tmp"
        tmp.write_text(json.dumps(payload, default=float))
        tmp.replace(output_dir / RESULT)
    return result


def main(job: str) -> None:
    """Inside a launch (torchrun sets $LOCAL_RANK) or for one process: train. Otherwise: launch this node."""
    spec = json.loads(Path(job).read_text())
    cfg = RunConfig.model_validate(spec["config"])
    d = cfg.train.distributed
    if "LOCAL_RANK" not in os.environ and spec.get("mirror") and cfg.train.resume:
        pull_latest(spec["mirror"], Path(spec["output_dir"]))  # a fresh pod: the newest complete mirrored checkpoint
    if "LOCAL_RANK" in os.environ or world_size(d) == 1:
        run_job(job)
    else:
        launch(d, Path(job))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main(sys.argv[1])
