"""Multi-process training on CPU (gloo) through the same launcher a GPU node uses: 2 processes with DDP and with
DeepSpeed ZeRO-2, on the tiny Qwen2-VL and a handful of image rows read from the media cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from components.config import DistributedConfig, TrainConfig
from components.train.launch import launch_args, launch_training
from components.train.resume import run_dir
from tests.train_jobs import NUM_ROWS, config, image_rows


def test_launch_args_single_node():
    args = launch_args(DistributedConfig(num_processes=2), "job.json")
    assert args[:5] == ["--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    assert args[-3:] == ["--module", "components.train.launch", "job.json"]


def test_launch_args_multi_node(monkeypatch):
    monkeypatch.setenv("NODE_RANK", "1")
    args = launch_args(DistributedConfig(num_processes=4, num_nodes=2, main_process_ip="10.0.0.1"), "job.json")
    joined = " ".join(args)
    assert "--num_processes 8 --num_machines 2" in joined  # accelerate counts processes over all nodes
    assert "--machine_rank 1 --main_process_ip 10.0.0.1 --main_process_port 29500" in joined


def test_launch_args_on_a_zenml_multi_pod_job(monkeypatch):
    """The Kubernetes step operator's multi-pod jobs are indexed jobs: the pod index is the node rank, and ZenML
    exports pod 0's address."""
    for name in ("NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    monkeypatch.setenv("ZENML_KUBERNETES_MAIN_ADDRESS", "job-0.job.ns.svc")
    monkeypatch.setenv("ZENML_KUBERNETES_MAIN_PORT", "29500")
    joined = " ".join(launch_args(DistributedConfig(num_processes=8, num_nodes=4), "job.json"))
    for part in ("--num_processes 32", "--num_machines 4", "--machine_rank 2", "--main_process_ip job-0.job.ns.svc"):
        assert part in joined


def test_zero_strategies_pick_the_shipped_deepspeed_configs():
    assert TrainConfig().deepspeed_config is None
    for stage in (2, 3):
        path = TrainConfig(distributed=DistributedConfig(strategy=f"zero{stage}")).deepspeed_config
        assert json.loads(Path(path).read_text())["zero_optimization"]["stage"] == stage
    custom = TrainConfig(deepspeed="my.json", distributed=DistributedConfig(strategy="zero2"))
    assert custom.deepspeed_config == "my.json"


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "zero2"])
def test_two_processes_on_cpu(tmp_path, tiny_path, strategy):
    from components.release.inference import load_for_inference

    dataset, media = image_rows(tmp_path)
    cfg = config(tmp_path, epochs=1, distributed=DistributedConfig(strategy=strategy, num_processes=2))
    model_path = str(tiny_path("qwen2_vl"))
    out = run_dir(cfg, dataset.content_hash(), model_path)
    res = launch_training(cfg, model_path, dataset, media, out)

    info = json.loads((res.checkpoint / "lmms_train.json").read_text())
    assert info["world_size"] == 2 and info["strategy"] == strategy
    # 8 rows, 2 per process, 2 processes: the ranks split the epoch (DistributedSampler), 2 steps instead of 4.
    assert info["global_step"] == NUM_ROWS // (2 * 2) == res.metrics["global_step"]
    assert res.is_adapter and any("loss" in h for h in res.log_history)
    assert not list(out.glob("checkpoint-*")), "intermediate checkpoints are removed after a finished run"

    adapter = load_file(res.checkpoint / "adapter_model.safetensors")
    lora_b = [t for n, t in adapter.items() if "lora_B" in n]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b), "LoRA B is still zero: nothing was trained"
    model, _ = load_for_inference(res.checkpoint)
    assert any(torch.isfinite(p).all() for p in model.parameters())
