"""LLaVA-OneVision: SigLIP tower, anyres tiling; images, several images and video."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "llava_onevision",
    ("llava_onevision",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    video=True,
)

MODELS = [
    ModelEntry("tiny-llava-onevision", "llava_onevision", "(built locally)", tiny=True),
    ModelEntry("llava-onevision-0.5b-ov", "llava_onevision", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf"),
    ModelEntry("llava-onevision-7b-ov", "llava_onevision", "llava-hf/llava-onevision-qwen2-7b-ov-hf"),
    ModelEntry("llava-onevision-72b-ov", "llava_onevision", "llava-hf/llava-onevision-qwen2-72b-ov-hf"),
]
