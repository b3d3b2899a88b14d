"""Qwen2-VL: dynamic resolution, M-RoPE; images, several images and video."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "qwen2_vl",
    ("qwen2_vl",),
    vision=("model.visual",),
    projector=("model.visual.merger",),
    llm=("model.language_model",),
    video=True,
)

MODELS = [
    ModelEntry("tiny-qwen2-vl", "qwen2_vl", "(built locally)", tiny=True),
    ModelEntry("qwen2-vl-2b-instruct", "qwen2_vl", "Qwen/Qwen2-VL-2B-Instruct"),
    ModelEntry("qwen2-vl-7b-instruct", "qwen2_vl", "Qwen/Qwen2-VL-7B-Instruct"),
    ModelEntry("qwen2-vl-72b-instruct", "qwen2_vl", "Qwen/Qwen2-VL-72B-Instruct"),
]
