"""Merging a LoRA adapter (LLM + vision LoRA, full projector) into a standalone checkpoint that plain transformers
loads, with the adapter model's logits on an image batch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from components.config import LoraConfig, RunConfig, TrainConfig
from components.data.collator import VLMCollator
from components.models.tiny.build import build_tiny
from components.release.inference import load_for_inference
from components.release.merge import _probe_inputs, merge_checkpoint
from components.train.parts import apply_trainable
from components.train.recipe import load_for_training

FAMILIES = ["qwen2_vl", "qwen2_5_vl", "llava", "llava_onevision"]


pytestmark = pytest.mark.usefixtures("one_thread")


def image(seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (56, 56, 3), dtype=np.uint8))


def image_rows() -> list[dict]:
    out = []
    for i, (q, a) in enumerate([("What color is the shape?", "red"), ("Is it on the left or the right side?", "left")]):
        messages = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]},
            {"role": "assistant", "content": [{"type": "text", "text": a}]},
        ]
        out.append({"index": i, "messages": messages, "images": [image(10 + i)], "videos": []})
    return out


def make_adapter(family: str, out_dir) -> None:
    """An adapter with non-trivial LoRA (random B) on the LLM and vision encoder and a perturbed projector copy,
    saved the way `train()` saves one: adapter + processor + lmms_train.json."""
    torch.manual_seed(0)
    base = str(build_tiny(family))
    cfg = RunConfig(
        train=TrainConfig(
            precision="fp32", llm="lora", vision="lora", projector="full", lora=LoraConfig(r=4, alpha=8, dropout=0.0)
        )
    )
    model, processor, fam = load_for_training(cfg, base)
    model = apply_trainable(model, fam, cfg.train)
    n_lora_b = n_copy = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_B." in name:
                p.normal_(0.0, 0.05)
                n_lora_b += 1
            elif ".modules_to_save." in name:
                p.add_(torch.randn_like(p) * 0.05)
                n_copy += 1
    assert n_lora_b and n_copy
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    (out_dir / "lmms_train.json").write_text(json.dumps({"base_model": base, "family": fam.name, "is_adapter": True}))


@torch.no_grad()
@pytest.mark.parametrize("family", FAMILIES)
def test_merged_checkpoint_matches_adapter_on_images(tmp_path, family):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    adapter_dir, merged_dir = tmp_path / "adapter", tmp_path / "merged"
    make_adapter(family, adapter_dir)
    assert (adapter_dir / "adapter_config.json").exists()

    out, diff = merge_checkpoint(adapter_dir, merged_dir)
    assert out == merged_dir and diff <= 1e-4

    files = {p.name for p in merged_dir.iterdir()}
    assert "adapter_config.json" not in files and "adapter_model.safetensors" not in files
    assert {"config.json", "tokenizer.json"} <= files and list(merged_dir.glob("*.safetensors"))
    assert not [p for pat in ("*.bin", "*.pt", "*.pth", "*.pkl") for p in merged_dir.glob(pat)]
    assert not json.loads((merged_dir / "lmms_train.json").read_text())["is_adapter"]

    # Plain transformers, no peft: the merged directory is a standalone checkpoint.
    merged = AutoModelForImageTextToText.from_pretrained(merged_dir, dtype=torch.float32).eval()
    assert not isinstance(merged, PeftModel)
    assert not any("lora_" in n or "modules_to_save" in n for n, _ in merged.named_parameters())
    processor = AutoProcessor.from_pretrained(merged_dir)
    batch = VLMCollator(processor)(image_rows())
    batch.pop("labels")
    assert batch["pixel_values"].numel() > 0

    adapter_model, _ = load_for_inference(adapter_dir)
    assert isinstance(adapter_model, PeftModel)
    adapter_model.to("cpu")  # load_for_inference moves to the GPU where there is one
    ref = adapter_model(**batch).logits
    got = merged(**batch).logits
    assert got.shape == ref.shape
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=0)

    # The adapter is not a no-op, so the match above means the LoRA and projector deltas were folded in.
    base = AutoModelForImageTextToText.from_pretrained(build_tiny(family), dtype=torch.float32).eval()
    assert (base(**batch).logits - ref).abs().max() > 1e-2
    # ... and the image path took part: a different image changes the merged model's output.
    other = VLMCollator(processor)([{**r, "images": [image(99)]} for r in image_rows()])
    other.pop("labels")
    assert (merged(**other).logits - got).abs().max() > 1e-4


@pytest.mark.parametrize("family", FAMILIES)
def test_merge_probe_carries_images(family):
    """merge_checkpoint's own check runs on an image batch, so vision LoRA and projector weights are compared."""
    from transformers import AutoProcessor

    inputs = _probe_inputs(AutoProcessor.from_pretrained(build_tiny(family)))
    assert inputs["pixel_values"].numel() > 0
    assert inputs["input_ids"].shape[0] == 2
