"""Multi-process training on CPU (gloo) through the same launcher a GPU node uses: 2 processes with DDP and with
DeepSpeed ZeRO-2, on the tiny Qwen2-VL and a handful of image rows read from the media cache."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from components.config import DistributedConfig, TrainConfig
from components.train.launch import launch_args, launch_training
from components.train.recipe import model_ref
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


# DDP with 2 processes against one process with the same global batch (fp32, CPU, gloo). What makes them comparable:
# the same seed gives the same LoRA initialisation and the same data order (accelerate replaces the Trainer's
# RandomSampler with a SeedableRandomSampler seeded with `data_seed`, the same permutation in every process and in both
# runs); accelerate's BatchSamplerShard hands rank r the batches r, r + 2, ... of that permutation cut into
# per-device batches of 2, so global step k sees permutation[4k:4k+4] over the two ranks, exactly the batch of 4 that
# the single process sees in step k. The Trainer averages the loss over the supervised tokens of the whole global batch
# (average_tokens_across_devices), and DDP averages the gradients, so both runs take the same optimizer steps up to
# floating-point summation order (all-reduce, padding to 2 vs 4 rows, thread count).
# Measured (2 cores, 1 thread per process): 1.5e-7 on the losses, 1.4e-7 on the weights; the bounds leave ~70x.
DDP_LOSS_RTOL = 1e-5  # per logged step, relative
DDP_WEIGHT_ATOL = 1e-5  # final adapter + projector tensors, absolute (the tensors are O(1e-2 .. 1))
EQUIVALENCE_EPOCHS = 2  # 8 rows, global batch 4: 4 optimizer steps, the second epoch in a new order


def _losses(res) -> list[tuple[int, float]]:
    return [(h["step"], h["loss"]) for h in res.log_history if "loss" in h]


def _trained(res) -> dict[str, torch.Tensor]:
    return load_file(res.checkpoint / "adapter_model.safetensors")


def _max_diffs(a, b) -> tuple[float, float]:
    """(max relative loss difference over the logged steps, max absolute difference over the saved tensors)."""
    la, lb = _losses(a), _losses(b)
    assert [s for s, _ in la] == [s for s, _ in lb], (la, lb)
    loss_diff = max(abs(x - y) / abs(y) for (_, x), (_, y) in zip(la, lb, strict=True))
    wa, wb = _trained(a), _trained(b)
    assert wa.keys() == wb.keys()
    return loss_diff, max((wa[k] - wb[k]).abs().max().item() for k in wa)


def _single_process(tmp_path, dataset, media, model, per_device_batch_size: int, **train):
    cfg = config(tmp_path / f"single{per_device_batch_size}", epochs=EQUIVALENCE_EPOCHS,
                 per_device_batch_size=per_device_batch_size, distributed=DistributedConfig(num_processes=1),
                 **train)  # fmt: skip
    return launch_training(cfg, model, dataset, media, run_dir(cfg, dataset.content_hash(), model.path))


@pytest.mark.slow
def test_ddp_two_processes_equal_one_process_with_the_same_global_batch(tmp_path, tiny_path, one_thread):
    dataset, media = image_rows(tmp_path)
    cfg = config(tmp_path / "ddp", epochs=EQUIVALENCE_EPOCHS, distributed=DistributedConfig(num_processes=2))
    model = model_ref(cfg, tiny_path("qwen2_vl"))
    out = run_dir(cfg, dataset.content_hash(), model.path)
    ddp = launch_training(cfg, model, dataset, media, out)

    info = json.loads((ddp.checkpoint / "lmms_train.json").read_text())
    assert info["world_size"] == 2 and info["strategy"] == "ddp"
    steps = EQUIVALENCE_EPOCHS * NUM_ROWS // (2 * 2)  # the ranks split each epoch: 2 steps of 2 x 2 rows
    assert info["global_step"] == steps == ddp.metrics["global_step"]
    assert not list(out.glob("checkpoint-*")), "intermediate checkpoints are removed after a finished run"
    losses = [x for _, x in _losses(ddp)]
    assert len(losses) == steps and all(math.isfinite(x) for x in losses), losses

    single = _single_process(tmp_path, dataset, media, model, per_device_batch_size=4)
    assert single.metrics["global_step"] == steps and single.metrics["world_size"] == 1
    loss_diff, weight_diff = _max_diffs(ddp, single)
    print(f"DDP vs 1 process: max rel loss diff {loss_diff:.2e}, max |weight diff| {weight_diff:.2e}")
    assert loss_diff <= DDP_LOSS_RTOL, f"losses: DDP {_losses(ddp)} vs one process {_losses(single)}"
    assert weight_diff <= DDP_WEIGHT_ATOL, f"final weights differ by {weight_diff:.2e}"

    # The check can fail: one process with half the global batch (other rows in each step; as many steps) is far
    # outside both bounds.
    half = _single_process(tmp_path, dataset, media, model, per_device_batch_size=2, max_steps=steps)
    half_loss, half_weight = _max_diffs(half, single)
    print(f"control, 1 process with half the global batch: {half_loss:.2e}, {half_weight:.2e}")
    assert half_loss > 10 * DDP_LOSS_RTOL and half_weight > 10 * DDP_WEIGHT_ATOL, (half_loss, half_weight)

    trained = _trained(ddp)
    lora_b = [t for n, t in trained.items() if "lora_B" in n]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b), "a LoRA B is still zero: nothing was trained"
    assert all(torch.isfinite(t).all() for t in trained.values())


@pytest.mark.slow
def test_zero2_two_processes_on_cpu(tmp_path, tiny_path):
    from components.release.inference import load_for_inference

    dataset, media = image_rows(tmp_path)
    cfg = config(tmp_path, epochs=1, distributed=DistributedConfig(strategy="zero2", num_processes=2))
    model = model_ref(cfg, tiny_path("qwen2_vl"))
    out = run_dir(cfg, dataset.content_hash(), model.path)
    res = launch_training(cfg, model, dataset, media, out)

    info = json.loads((res.checkpoint / "lmms_train.json").read_text())
    assert info["world_size"] == 2 and info["strategy"] == "zero2"
    # 8 rows, 2 per process, 2 processes: the ranks split the epoch (DistributedSampler), 2 steps instead of 4.
    assert info["global_step"] == NUM_ROWS // (2 * 2) == res.metrics["global_step"]
    losses = [h["loss"] for h in res.log_history if "loss" in h]
    assert res.is_adapter and losses and all(math.isfinite(x) for x in losses), losses
    assert not list(out.glob("checkpoint-*")), "intermediate checkpoints are removed after a finished run"

    adapter = load_file(res.checkpoint / "adapter_model.safetensors")
    lora_b = [t for n, t in adapter.items() if "lora_B" in n]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b), "a LoRA B is still zero: nothing was trained"
    model, _ = load_for_inference(res.checkpoint)
    assert all(torch.isfinite(p).all() for p in model.parameters())
