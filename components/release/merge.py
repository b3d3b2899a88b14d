"""Merge a LoRA adapter into its base model and save a standalone checkpoint (model + processor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from peft import PeftModel
from PIL import Image

from components.artifacts import CheckpointMeta
from components.data.collator import adds_special_tokens
from components.models.loading import ModelRef


def _probe_image(seed: int):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (56, 56, 3), dtype=np.uint8))


def _probe_inputs(processor, images: bool = True) -> dict:
    """A small batch to compare the merged and adapter models' logits. With `images` each prompt carries an image
    (rendered through the processor's chat template), so vision-encoder LoRA and projector weights are exercised too;
    a text-only batch would leave them untested."""
    prompts = ["What color is the shape? red", "left or right? left"]
    if not images:
        return processor.tokenizer(prompts, return_tensors="pt", padding=True)
    texts = [
        processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": p}]}],
            tokenize=False,
            add_generation_prompt=True,
        )
        for p in prompts
    ]
    return processor(
        text=texts,
        images=[[_probe_image(i)] for i in range(len(texts))],
        return_tensors="pt",
        padding=True,
        add_special_tokens=adds_special_tokens(processor.tokenizer, texts[0]),
    )


@torch.no_grad()
def merge_checkpoint(
    adapter_dir: str | Path, out_dir: str | Path, atol: float = 1e-4, trust_remote_code: bool | None = None
) -> tuple[Path, float]:
    """Returns the merged directory and the max |logit difference| against the adapter model (must be <= atol)."""
    adapter = ModelRef.from_path(adapter_dir, trust_remote_code)  # the opt-in it was trained with, from its meta
    base = adapter.base
    if base is None:
        raise ValueError(f"{adapter_dir} holds no LoRA adapter (adapter_config.json missing)")
    processor, fam = adapter.load_processor(), adapter.entry
    peft_model = PeftModel.from_pretrained(base.load_model(torch.float32), str(adapter_dir)).eval()
    inputs = dict(_probe_inputs(processor, images=fam.images))
    ref = peft_model(**inputs).logits
    merged = peft_model.merge_and_unload().eval()
    diff = (merged(**inputs).logits - ref).abs().max().item()
    if diff > atol:
        raise RuntimeError(f"merged logits differ from the adapter model by {diff:.2e} > {atol:.0e}")
    out = Path(out_dir)
    merged.save_pretrained(out)
    processor.save_pretrained(out)
    CheckpointMeta(
        family=fam.name,
        base_model=base.path,
        merged_from=str(adapter_dir),
        trust_remote_code=adapter.trust_remote_code,
        revision=adapter.revision,
    ).write(out)
    return out, diff
