"""ERNIE-4.5-VL: heterogeneous MoE LLM (separate text and vision experts plus shared experts), a ViT with 2D-RoPE and
a spatial/temporal resampler; images, several images and video."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "ernie4_5_vl_moe",
    ("ernie4_5_vl_moe",),
    vision=("model.vision_tower",),
    projector=("model.resampler_model",),
    llm=("model.language_model",),
    video=True,
    notes="Routed experts are fused 3-D parameters: LLM LoRA covers attention, dense layers and shared experts "
    "(nn.Linear), not the routed experts. Real checkpoints draw timestamps on video frames (needs video metadata and "
    "the shipped font); the template is a thinking template (empty `<think>` block in the generation prompt).",
)

MODELS = [
    ModelEntry("tiny-ernie-4.5-vl", "ernie4_5_vl_moe", "(built locally)", tiny=True),
    ModelEntry("ernie-4.5-vl-28b-a3b", "ernie4_5_vl_moe", "baidu/ERNIE-4.5-VL-28B-A3B-PT"),
]
