"""Merge a LoRA adapter into its base model and save a standalone checkpoint (model + processor)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from components.inference import adapter_base
from components.models import load_model, load_processor


def _probe_inputs(processor) -> dict:
    """A small text-only batch: enough to compare the merged and adapter models' logits."""
    tok = processor.tokenizer
    return tok(["What color is the shape? red", "left or right? left"], return_tensors="pt", padding=True)


@torch.no_grad()
def merge_checkpoint(adapter_dir: str | Path, out_dir: str | Path, atol: float = 1e-4) -> tuple[Path, float]:
    """Returns the merged directory and the max |logit difference| against the adapter model (must be <= atol)."""
    from peft import PeftModel

    base = adapter_base(adapter_dir)
    if base is None:
        raise ValueError(f"{adapter_dir} holds no LoRA adapter (adapter_config.json missing)")
    processor = load_processor(str(adapter_dir))
    model, fam = load_model(base, dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(model, str(adapter_dir)).eval()
    inputs = _probe_inputs(processor)
    ref = peft_model(**inputs).logits
    merged = peft_model.merge_and_unload().eval()
    diff = (merged(**inputs).logits - ref).abs().max().item()
    if diff > atol:
        raise RuntimeError(f"merged logits differ from the adapter model by {diff:.2e} > {atol:.0e}")
    out = Path(out_dir)
    merged.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "lmms_train.json").write_text(
        json.dumps({"base_model": base, "family": fam.name, "is_adapter": False, "merged_from": str(adapter_dir)})
    )
    return out, diff
