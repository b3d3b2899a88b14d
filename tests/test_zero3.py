"""Mixed image / video / text-only batches under DeepSpeed ZeRO-3 (components/zero3.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import Trainer, TrainingArguments

from components import media
from components.collator import VLMCollator
from components.data import Sample, to_messages
from components.models import load_model, load_processor
from components.tiny import build_tiny, cache_root
from components.zero3 import DummyMedia, MediaBalancedTrainer, is_zero3

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


def _trainers(model, processor, fam, tmp_path: Path) -> tuple[Trainer, MediaBalancedTrainer]:
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[], per_device_train_batch_size=1)
    plain = Trainer(model=model, args=args)
    balanced = MediaBalancedTrainer(model=model, args=args, dummy_media=DummyMedia(processor, fam.video))
    return plain, balanced


def _loss_and_grads(trainer: Trainer, model, batch: dict) -> tuple[float, dict[str, torch.Tensor | None]]:
    model.zero_grad(set_to_none=True)
    loss = trainer.compute_loss(model, dict(batch))
    loss.backward()
    return loss.item(), {n: (p.grad.clone() if p.grad is not None else None) for n, p in model.named_parameters()}


def test_dummy_media_leaves_loss_and_gradients_unchanged(qwen, tmp_path: Path):
    model, processor, fam = qwen
    model.train()
    collator = VLMCollator(processor)
    plain, balanced = _trainers(model, processor, fam, tmp_path)
    vision_calls: list[int] = []
    hook = model.model.visual.register_forward_hook(lambda *a: vision_calls.append(1))
    try:
        text = collator([_row("Say hi.")])
        loss, grads = _loss_and_grads(plain, model, text)
        assert len(vision_calls) == 0  # a text-only batch never touches the vision tower by itself
        loss_b, grads_b = _loss_and_grads(balanced, model, text)
        assert len(vision_calls) == 2  # the blank image and the blank video
    finally:
        hook.remove()
    assert loss_b == loss
    for name, g in grads.items():
        if g is not None:
            assert torch.equal(grads_b[name], g), name
        elif "visual" in name:  # the vision tower now takes part in backward, with zero gradients
            assert grads_b[name] is not None and not grads_b[name].any(), name

    image = media.load_image(sorted(MEDIA.glob("*.png"))[0])
    calls: list[int] = []
    hook = model.model.visual.register_forward_hook(lambda *a: calls.append(1))
    try:
        with_image = collator([_row("<image>\nColour?", images=[image])])
        assert _loss_and_grads(balanced, model, with_image)[0] == _loss_and_grads(plain, model, with_image)[0]
    finally:
        hook.remove()
    assert len(calls) == 3  # balanced: dummy video + real image; plain: real image


def test_dummy_media_covers_only_missing_kinds(qwen):
    model, processor, fam = qwen
    dummy = DummyMedia(processor, takes_video=True)
    assert dummy.term(model, {"pixel_values": torch.zeros(1), "pixel_values_videos": torch.zeros(1)}) is None
    image_only = DummyMedia(processor, takes_video=False)
    assert image_only.video is None
    term = image_only.term(model, {"input_ids": torch.zeros(1, 3, dtype=torch.long)})
    assert term is not None and term.item() == 0.0 and term.requires_grad


def test_is_zero3(tmp_path: Path):
    assert is_zero3(str(ROOT / "infra" / "ds_zero3.json"))
    assert not is_zero3(str(ROOT / "infra" / "ds_zero2.json"))
    assert not is_zero3(None) and is_zero3({"zero_optimization": {"stage": 3}})


@pytest.mark.slow
def test_zero3_two_ranks_with_different_modalities_per_step(tmp_path: Path):
    """torchrun, 2 CPU ranks (gloo), HF Trainer + DeepSpeed ZeRO-3: rank 0 and rank 1 see different modalities in the
    same step (image vs text-only, video vs image, ...). Without the balancing this hangs; a timeout makes it fail."""
    if shutil.which("c++") is None:
        pytest.skip("DeepSpeed JIT-builds its CPU communication op and needs a C++ compiler")
    build_tiny("qwen2_vl")  # where the ranks look for it (cache_root), built once before they race for it
    # DeepSpeed JIT-builds its CPU communication op once per TORCH_EXTENSIONS_DIR; ninja rebuilds it whenever the
    # compile command changes (another checkout's paths), so keep our own build beside the tiny checkpoints.
    extensions = os.environ.get("TORCH_EXTENSIONS_DIR") or str(cache_root() / "torch_extensions")
    env = {
        **os.environ,
        "DS_ACCELERATOR": "cpu",
        "OMP_NUM_THREADS": "1",
        "LMMS_DUMP_STACKS_AFTER": "1500",
        "TORCH_EXTENSIONS_DIR": extensions,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "zero3_mixed.py"), str(tmp_path)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"ZeRO-3 mixed-modality training hung (timeout); output tail:\n{str(e.stdout)[-3000:]}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    from tests.zero3_mixed import SCHEDULE

    for r, report in enumerate(ranks):
        assert report["seen"][: len(SCHEDULE)] == [step[r] for step in SCHEDULE]
        assert report["steps"] == len(SCHEDULE) and all(map(lambda x: x == x and x < 1e4, report["losses"]))
    assert sum(a != b for a, b in SCHEDULE) >= 6  # the ranks disagree in most steps
    assert (Path(ranks[0]["final"]) / "adapter_model.safetensors").exists()
