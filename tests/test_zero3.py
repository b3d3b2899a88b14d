"""Mixed image / video / text-only batches under DeepSpeed ZeRO-3 (components/train/balancing.py)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from components.artifacts import Sample
from components.config import DistributedConfig, TrainConfig, cache_root, deepspeed_stage
from components.data import media
from components.data.collator import Collator, VLMCollator
from components.data.rows import to_messages
from components.models.loading import load_model, load_processor
from components.models.tiny.build import build_tiny
from components.train.balancing import MediaBalancingCollator
from components.train.packing import PackingCollator, supervised_tokens

ROOT = Path(__file__).parent.parent
MEDIA = ROOT / "example_data" / "media" / "train"


def _row(question: str, images=(), videos=()) -> dict:
    sample = Sample(0, None, None, [("user", question), ("assistant", "right")])
    return {"messages": to_messages(sample), "images": list(images), "videos": list(videos)}


@pytest.fixture(scope="module")
def qwen(tiny_path, one_thread):
    path = tiny_path("qwen2_vl")
    model, fam = load_model(str(path), dtype=torch.float32)
    return model, load_processor(str(path)), fam


def _loss_and_grads(model, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
    model.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    return loss.detach(), {n: (p.grad.clone() if p.grad is not None else None) for n, p in model.named_parameters()}


def _count_calls(module: torch.nn.Module) -> list[int]:
    calls: list[int] = []
    module.register_forward_hook(lambda *a: calls.append(1))
    return calls


def test_dummy_row_leaves_loss_and_gradients_unchanged(qwen):
    model, processor, fam = qwen
    model.train()
    collator = VLMCollator(processor)
    balancing = MediaBalancingCollator(collator, fam.video)
    rows = [_row("Say hi."), _row("Repeat: blue.")]
    plain, balanced = collator(rows), balancing(rows)
    assert "pixel_values" not in plain and balanced["input_ids"].shape[0] == 3  # the dummy row comes last
    assert (balanced["labels"][2] == -100).all() and torch.equal(balanced["labels"][:2, : plain["labels"].shape[1]],
                                                                  plain["labels"])  # fmt: skip
    assert {"pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw"} <= set(balanced)

    calls = _count_calls(model.model.visual)
    loss, grads = _loss_and_grads(model, plain)
    assert calls == []  # a text-only batch never touches the vision tower by itself
    loss_b, grads_b = _loss_and_grads(model, balanced)
    assert len(calls) == 2  # image path and video path, inside the forward
    torch.testing.assert_close(loss_b, loss, rtol=1e-6, atol=1e-7)
    for name, g in grads.items():
        if g is not None:
            torch.testing.assert_close(grads_b[name], g, rtol=1e-5, atol=1e-7, msg=name)
        elif "visual" in name:  # the vision tower now takes part in backward, with zero gradients
            assert grads_b[name] is not None and not grads_b[name].any(), name


def test_only_missing_kinds_are_added(qwen):
    _, processor, fam = qwen
    collator = VLMCollator(processor)
    balancing = MediaBalancingCollator(collator, fam.video)
    image = media.load_image(sorted(MEDIA.glob("*.png"))[0])
    video = media.load_video(sorted(MEDIA.glob("*.mp4"))[0], num_frames=2)[0]
    with_image = balancing([_row("<image>\nColour?", images=[image])])
    assert with_image["input_ids"].shape[0] == 2 and with_image["image_grid_thw"].shape[0] == 1
    assert with_image["video_grid_thw"].shape[0] == 1  # the dummy video
    both = [_row("<image>\nColour?", images=[image]), _row("<video>\nWay?", videos=[video])]
    assert balancing(both)["input_ids"].shape[0] == 2  # nothing missing: no dummy row
    image_only = MediaBalancingCollator(collator, takes_video=False)
    assert "pixel_values_videos" not in image_only([_row("Hi.")])


def test_wrappers_compose_in_either_order(qwen):
    """Both wrappers offer the interface they read (components.data.collator.Collator), so either can wrap the other."""
    _, processor, fam = qwen
    collator = VLMCollator(processor)
    balancing, packing = MediaBalancingCollator(collator, fam.video), PackingCollator(collator)
    for wrapped in (collator, balancing, packing, PackingCollator(balancing), MediaBalancingCollator(packing, False)):
        assert isinstance(wrapped, Collator)
        assert wrapped.processor is processor and wrapped.tokenizer is processor.tokenizer
        assert wrapped.pad_token_id == processor.tokenizer.pad_token_id
    rows = [_row("Say hi."), _row("Repeat: blue.")]
    packed = PackingCollator(balancing)(rows)  # the text-only batch gets the dummy row, then is packed
    assert packed["input_ids"].shape[0] == 1 and packed["packed_seq_lens"].shape[0] == 3
    assert "pixel_values" in packed and supervised_tokens(packed) == supervised_tokens(collator(rows))


def test_zero_stage():
    assert deepspeed_stage(str(ROOT / "infra" / "ds_zero3.json")) == 3
    assert deepspeed_stage(str(ROOT / "infra" / "ds_zero2.json")) == 2
    assert deepspeed_stage(None) == 0 and deepspeed_stage({"zero_optimization": {"stage": 3}}) == 3
    assert TrainConfig(distributed=DistributedConfig(strategy="zero3")).zero_stage == 3
    assert TrainConfig(deepspeed=str(ROOT / "infra" / "ds_zero2.json")).zero_stage == 2
    assert TrainConfig().zero_stage == 0


def _launch(out: Path, timeout: int, **env_extra: str) -> subprocess.CompletedProcess | None:
    """torchrun, 2 CPU ranks, tests/zero3_mixed.py; None if it ran past `timeout` (a hang)."""
    build_tiny("qwen2_vl")  # where the ranks look for it (cache_root), built once before they race for it
    # DeepSpeed JIT-builds its CPU communication op once per TORCH_EXTENSIONS_DIR; ninja rebuilds it whenever the
    # compile command changes (another checkout's paths), so keep our own build beside the tiny checkpoints.
    extensions = os.environ.get("TORCH_EXTENSIONS_DIR") or str(cache_root() / "torch_extensions")
    env = {
        **os.environ,
        "DS_ACCELERATOR": "cpu",
        "OMP_NUM_THREADS": "1",
        "TORCH_EXTENSIONS_DIR": extensions,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        **env_extra,
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "zero3_mixed.py"), str(out)]  # fmt: skip
    try:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None


needs_compiler = pytest.mark.skipif(shutil.which("c++") is None, reason="DeepSpeed JIT-builds a CPU op: needs c++")


def _tail(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout[-3000:] + proc.stderr[-5000:]


@pytest.mark.slow
@needs_compiler
def test_zero3_two_ranks_with_different_modalities_per_step(tmp_path: Path):
    """torchrun, 2 CPU ranks (gloo), HF Trainer + DeepSpeed ZeRO-3 (infra/ds_zero3.json) through training.train:
    rank 0 and rank 1 see different modalities in the same step (image vs text-only, video vs image, ...). The trained
    tensors, gathered from the shards on each rank after training, all changed and are equal on both ranks, and rank
    0's saved adapter holds them."""
    # The first start builds DeepSpeed's op (minutes on a busy 2-core machine); a hang prints stacks and fails.
    proc = _launch(tmp_path, timeout=1800, LMMS_DUMP_STACKS_AFTER="1700")
    assert proc is not None, "ZeRO-3 mixed-modality training hung for 1800 s"
    assert proc.returncode == 0, _tail(proc)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    from tests.zero3_mixed import SCHEDULE

    for r, report in enumerate(ranks):
        assert report["seen"][: len(SCHEDULE)] == [step[r] for step in SCHEDULE]
        assert report["steps"] == len(SCHEDULE) and all(math.isfinite(x) for x in report["losses"]), report["losses"]
        assert report["unchanged"] == [], f"rank {r}: trained tensors unchanged after training: {report['unchanged']}"
    assert ranks[0]["losses"] == ranks[1]["losses"]  # the logged loss is the mean over ranks
    assert sum(a != b for a, b in SCHEDULE) >= 6  # the ranks disagree in most steps

    weights = [load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1)]
    assert weights[0].keys() == weights[1].keys() == set(ranks[0]["trained"])
    assert any("lora_B" in n for n in weights[0]) and any("modules_to_save" in n for n in weights[0])
    for name, t in weights[0].items():
        assert t.numel() > 0 and torch.isfinite(t).all(), name  # whole tensors, not a rank's (empty) shard
        assert torch.equal(t, weights[1][name]), f"{name} differs between the ranks"
    # Rank 0's saved adapter is those tensors (PEFT drops the adapter name, and modules_to_save's wrapper, on save)
    saved = load_file(Path(ranks[0]["final"]) / "adapter_model.safetensors")
    as_saved = {re.sub(r"\.(modules_to_save\.)?default(?=\.)", "", n): t for n, t in weights[0].items()}
    assert as_saved.keys() == saved.keys(), sorted(as_saved.keys() ^ saved.keys())[:5]
    for name, t in saved.items():
        assert torch.equal(t, as_saved[name]), name


COLLECTIVE_MISMATCH = "Detected mismatch between collectives on ranks"


@pytest.mark.slow
@needs_compiler
def test_zero3_without_balancing_fails(tmp_path: Path):
    """The negative control: the same run without MediaBalancingCollator. In step 0 rank 0 (an image row) gathers the
    vision tower's parameters while rank 1 (text only) skips the tower and gathers the LLM's: the ranks run different
    collectives. With TORCH_DISTRIBUTED_DEBUG=DETAIL, torch's process-group wrapper compares every collective's
    fingerprint (op, tensor shapes) across the ranks before running it and raises on this mismatch, which this test
    requires; without it, gloo can block on the mismatched collective (a hang: here the timeout fails the test).
    """
    timeout = 900
    proc = _launch(tmp_path, timeout=timeout, LMMS_DUMP_STACKS_AFTER=str(timeout - 60), LMMS_ZERO3_UNBALANCED="1",
                   TORCH_DISTRIBUTED_DEBUG="DETAIL")  # fmt: skip
    if proc is None:
        pytest.fail(f"ZeRO-3 without balancing hung for {timeout} s instead of raising the collective mismatch")
    assert proc.returncode != 0, "ZeRO-3 without balancing trained: the ranks' collectives matched\n" + _tail(proc)
    output = proc.stdout + proc.stderr
    assert COLLECTIVE_MISMATCH in output, "no collective-mismatch error; the ranks ended with:\n" + _tail(proc)
    assert not (tmp_path / "rank0.json").exists() and not (tmp_path / "rank1.json").exists()
