"""Resume: only complete checkpoints are picked up, and a run killed with SIGKILL and rerun ends with the same
weights as an uninterrupted run (CPU, fp32, fixed seeds)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from components.train.launch import RESULT, write_job
from components.train.recipe import RowsDataset, train
from components.train.resume import MARKER, checkpoints, last_complete_checkpoint, run_dir
from tests.train_jobs import config, image_rows

ROOT = Path(__file__).parent.parent
# Resumed and uninterrupted runs must agree to this (measured: bit-identical on CPU, fp32, one thread).
ATOL = 1e-6


def test_last_complete_checkpoint_ignores_unmarked(tmp_path):
    for step, marked in ((2, True), (4, True), (6, False)):
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        (d / "adapter_model.safetensors").write_bytes(b"half")
        if marked:
            (d / MARKER).write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert [s for s, _ in checkpoints(tmp_path)] == [2, 4, 6]
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    assert last_complete_checkpoint(tmp_path / "missing") is None


class Steps(TrainerCallback):
    """Records the optimizer steps this process takes; raises after step `crash_at`."""

    def __init__(self, crash_at: int | None = None):
        self.crash_at, self.taken = crash_at, []

    def on_step_end(self, args, state, control, **kwargs):
        self.taken.append(state.global_step)
        if state.global_step == self.crash_at:
            raise RuntimeError("crash")


def test_half_written_checkpoint_is_never_resumed(tmp_path, tiny_path, one_thread):
    """A run crashes after its step-4 checkpoint; a later checkpoint directory without the marker (what a kill during
    the write leaves) is removed, and the rerun resumes from step 4."""
    from components.data.prepare import cached_loaders

    dataset, media = image_rows(tmp_path)
    cfg = config(tmp_path, max_steps=8, save_steps=2)
    ds = RowsDataset(dataset.train, *cached_loaders(media))
    model_path = str(tiny_path("qwen2_vl"))
    out = run_dir(cfg, dataset.content_hash(), model_path)
    with pytest.raises(RuntimeError, match="crash"):
        train(cfg, model_path, ds, None, out, callbacks=[Steps(crash_at=5)])
    assert [s for s, _ in checkpoints(out)] == [2, 4]  # save_total_limit=2
    half = out / "checkpoint-6"
    half.mkdir()
    (half / "adapter_model.safetensors").write_bytes(b"\x00" * 10)  # truncated
    (half / "trainer_state.json").write_text('{"global_step": 6')
    assert last_complete_checkpoint(out) == out / "checkpoint-4"

    steps = Steps()
    res = train(cfg, model_path, ds, None, out, callbacks=[steps])
    info = json.loads((res.checkpoint / "lmms_train.json").read_text())
    assert info["resumed_from"] == "checkpoint-4" and info["global_step"] == 8
    assert steps.taken == [5, 6, 7, 8], "steps 1-4 must not be redone"
    assert [h["step"] for h in res.log_history if "loss" in h] == [1, 2, 3, 4, 5, 6, 7, 8]  # history carried over
    assert not checkpoints(out), "checkpoints are removed once the final model is saved"


def _start(job: Path, log: str) -> subprocess.Popen:
    """The worker entry point a launch runs, as its own process (one process: no torchrun needed)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with open(job.parent / log, "w") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "components.train.launch", str(job)], cwd=ROOT, env=env, stdout=f, stderr=f
        )


def _finish(proc: subprocess.Popen, log: Path) -> None:
    proc.wait(timeout=600)
    assert proc.returncode == 0, log.read_text()[-3000:]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(Path(json.loads((out / RESULT).read_text())["checkpoint"]) / "adapter_model.safetensors")


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, tiny_path):
    dataset, media = image_rows(tmp_path)
    model_path = str(tiny_path("qwen2_vl"))
    # 8 rows / batch 2 = 4 steps an epoch, 6 epochs: the resumed run starts mid-epoch in general and must skip the
    # batches the killed run has seen, restore optimizer, scheduler and RNG.
    schedule = {"epochs": 6, "save_steps": 3}
    ref_cfg = config(tmp_path / "ref", **schedule)
    ref_out = run_dir(ref_cfg, dataset.content_hash(), model_path)
    reference = _start(write_job(ref_cfg, model_path, dataset, media, ref_out), "log.txt")

    cfg = config(tmp_path / "killed", **schedule)
    out = run_dir(cfg, dataset.content_hash(), model_path)
    job = write_job(cfg, model_path, dataset, media, out)
    proc = _start(job, "killed.txt")
    deadline = time.monotonic() + 300
    while (ckpt := last_complete_checkpoint(out)) is None or int(ckpt.name.split("-")[1]) < 9:
        assert proc.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "final").exists() and not (out / RESULT).exists(), "killed too late: the run had finished"
    killed_at = sorted(s for s, _ in checkpoints(out))

    _finish(_start(job, "log.txt"), out / "log.txt")  # the retry: same job, same run directory
    _finish(reference, ref_out / "log.txt")

    info = json.loads((out / "final" / "lmms_train.json").read_text())
    resumed = int(info["resumed_from"].split("-")[1])
    assert resumed >= 9 and resumed in killed_at and info["global_step"] == 24
    ref, got = _weights(ref_out), _weights(out)
    assert ref.keys() == got.keys() and any("lora_B" in k for k in ref)
    diff = max((ref[k] - got[k]).abs().max().item() for k in ref)
    print(f"resumed from step {resumed} of 24; max |resumed - uninterrupted| = {diff:.3g} over {len(ref)} tensors")
    assert diff <= ATOL
