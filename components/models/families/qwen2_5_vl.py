"""Qwen2.5-VL: Qwen2-VL with window attention in the vision tower; images, several images and video."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "qwen2_5_vl",
    ("qwen2_5_vl",),
    vision=("model.visual",),
    projector=("model.visual.merger",),
    llm=("model.language_model",),
    video=True,
)

MODELS = [
    ModelEntry("tiny-qwen2.5-vl", "qwen2_5_vl", "(built locally)", tiny=True),
    ModelEntry("qwen2.5-vl-3b-instruct", "qwen2_5_vl", "Qwen/Qwen2.5-VL-3B-Instruct"),
    ModelEntry("qwen2.5-vl-7b-instruct", "qwen2_5_vl", "Qwen/Qwen2.5-VL-7B-Instruct"),
    ModelEntry("qwen2.5-vl-72b-instruct", "qwen2_5_vl", "Qwen/Qwen2.5-VL-72B-Instruct"),
]
