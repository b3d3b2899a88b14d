"""Kimi K2.5: MoonViT tower (2D RoPE, 2x2 patch merge), an MLP projector, DeepSeek-V3 LLM (MLA attention, MoE);
images, several images and video (frames in temporal chunks)."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "kimi_k25",
    ("kimi_k25",),
    vision=("model.vision_tower",),
    projector=("model.mm_projector",),
    llm=("model.language_model",),
    video=True,
    notes="Kimi K2.5; LoRA reaches the LLM's attention and dense layers (its routed experts are fused tensors).",
)

MODELS = [
    ModelEntry("tiny-kimi-k25", "kimi_k25", "(built locally)", tiny=True),
    ModelEntry("kimi-k2.5", "kimi_k25", "moonshotai/Kimi-K2.5"),
]
