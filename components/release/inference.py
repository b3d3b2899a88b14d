"""Load a merged or adapter checkpoint and generate, the way a user would with plain transformers + peft."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from peft import PeftModel

from components.data.collator import adds_special_tokens, apply_template
from components.models.loading import ModelRef


def load_for_inference(path: str | Path, dtype: torch.dtype = torch.float32, trust_remote_code: bool | None = None):
    """Returns (model, processor). Adapter checkpoints are attached to their base model with PEFT. Remote code runs
    only when asked, or when the checkpoint was trained with the per-model opt-in (recorded in its CheckpointMeta)."""
    ref = ModelRef.from_path(path, trust_remote_code)
    base = ref.base
    if base is None:
        model = ref.load_model(dtype)
    else:
        model = PeftModel.from_pretrained(base.load_model(dtype), ref.path)
    model.eval()
    if torch.cuda.is_available():
        model.to("cuda")
    return model, ref.load_processor()


@torch.no_grad()
def generate(
    model,
    processor,
    messages: list[dict],
    images: Sequence = (),
    videos: Sequence = (),
    max_new_tokens: int = 32,
) -> str:
    """Greedy generation for one conversation whose last message is a user turn."""
    text = apply_template(processor, messages, add_generation_prompt=True)
    kwargs: dict = {}
    if images:
        kwargs["images"] = [list(images)]
    if videos:
        kwargs["videos"] = list(videos)
        kwargs["do_sample_frames"] = False
    inputs = processor(
        text=[text], return_tensors="pt", add_special_tokens=adds_special_tokens(processor.tokenizer, text), **kwargs
    ).to(model.device)
    if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1] :]
    return processor.tokenizer.decode(new, skip_special_tokens=True).strip()
