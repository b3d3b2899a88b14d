"""FastVLM (Apple): FastViTHD hybrid conv/attention encoder through timm (64x downsampling), MLP projector, Qwen2."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "fast_vlm",
    notes="FastVLM; the vision tower is a timm FastViT (LoRA reaches its attention stages' linear layers); LLaVA "
    "processor with one token per 64x64 patch; ChatML turns ending with `<|im_end|>`.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "fastvlm-0.5b": "KamilaMila/FastVLM-0.5B",
    "fastvlm-1.5b": "KamilaMila/FastVLM-1.5B",
    "fastvlm-7b": "KamilaMila/FastVLM-7B",
}
