"""ERNIE-4.5-VL: heterogeneous MoE LLM (separate text and vision experts plus shared experts), a ViT with 2D-RoPE and
a spatial/temporal resampler; images, several images and video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "ernie4_5_vl_moe",
    projector=("model.resampler_model",),
    video=True,
    notes="Routed experts are fused 3-D parameters: LLM LoRA covers attention, dense layers and shared experts "
    "(nn.Linear), not the routed experts. Real checkpoints draw timestamps on video frames (needs video metadata and "
    "the shipped font); the template is a thinking template (empty `<think>` block in the generation prompt).",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "ernie-4.5-vl-28b-a3b": "baidu/ERNIE-4.5-VL-28B-A3B-PT",
}
