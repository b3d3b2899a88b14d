"""FastVLM (Apple): FastViTHD hybrid conv/attention encoder through timm (64x downsampling), MLP projector, Qwen2."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "fast_vlm",
    ("fast_vlm",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="FastVLM; the vision tower is a timm FastViT (LoRA reaches its attention stages' linear layers); LLaVA "
    "processor with one token per 64x64 patch; ChatML turns ending with `<|im_end|>`.",
)

MODELS = [
    ModelEntry("tiny-fast-vlm", "fast_vlm", "(built locally)", tiny=True),
    ModelEntry("fastvlm-0.5b", "fast_vlm", "KamilaMila/FastVLM-0.5B"),
    ModelEntry("fastvlm-1.5b", "fast_vlm", "KamilaMila/FastVLM-1.5B"),
    ModelEntry("fastvlm-7b", "fast_vlm", "KamilaMila/FastVLM-7B"),
]
