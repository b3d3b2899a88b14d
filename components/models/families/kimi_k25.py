"""Kimi K2.5: MoonViT tower (2D RoPE, 2x2 patch merge), an MLP projector, DeepSeek-V3 LLM (MLA attention, MoE);
images, several images and video (frames in temporal chunks)."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "kimi_k25",
    projector=("model.mm_projector",),
    video=True,
    notes="Kimi K2.5; LoRA reaches the LLM's attention and dense layers (its routed experts are fused tensors).",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "kimi-k2.5": "moonshotai/Kimi-K2.5",
}
