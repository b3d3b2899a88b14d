"""Merge a LoRA adapter into its base model and save a standalone checkpoint (model + processor)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from components.inference import adapter_base, train_meta
from components.models import load_model, load_processor


def _probe_image(seed: int):
    import numpy as np
    from PIL import Image

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
    bos = processor.tokenizer.bos_token
    return processor(
        text=texts,
        images=[[_probe_image(i)] for i in range(len(texts))],
        return_tensors="pt",
        padding=True,
        add_special_tokens=not (bos and texts[0].startswith(bos)),
    )


@torch.no_grad()
def merge_checkpoint(
    adapter_dir: str | Path, out_dir: str | Path, atol: float = 1e-4, trust_remote_code: bool | None = None
) -> tuple[Path, float]:
    """Returns the merged directory and the max |logit difference| against the adapter model (must be <= atol)."""
    from peft import PeftModel

    base = adapter_base(adapter_dir)
    if base is None:
        raise ValueError(f"{adapter_dir} holds no LoRA adapter (adapter_config.json missing)")
    if trust_remote_code is None:  # the opt-in the model was trained with, recorded next to the adapter
        trust_remote_code = bool(train_meta(adapter_dir).get("trust_remote_code", False))
    processor = load_processor(str(adapter_dir), trust_remote_code)
    model, fam = load_model(base, dtype=torch.float32, trust_remote_code=trust_remote_code)
    peft_model = PeftModel.from_pretrained(model, str(adapter_dir)).eval()
    inputs = dict(_probe_inputs(processor, images=fam.images))
    ref = peft_model(**inputs).logits
    merged = peft_model.merge_and_unload().eval()
    diff = (merged(**inputs).logits - ref).abs().max().item()
    if diff > atol:
        raise RuntimeError(f"merged logits differ from the adapter model by {diff:.2e} > {atol:.0e}")
    out = Path(out_dir)
    merged.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "lmms_train.json").write_text(
        json.dumps(
            {
                "base_model": base,
                "family": fam.name,
                "is_adapter": False,
                "merged_from": str(adapter_dir),
                "trust_remote_code": trust_remote_code,
            }
        )
    )
    return out, diff
