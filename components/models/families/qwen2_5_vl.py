"""Qwen2.5-VL: Qwen2-VL with window attention in the vision tower; images, several images and video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "qwen2_5_vl",
    vision=("model.visual",),
    projector=("model.visual.merger",),
    video=True,
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "qwen2.5-vl-3b-instruct": "Qwen/Qwen2.5-VL-3B-Instruct",
    "qwen2.5-vl-7b-instruct": "Qwen/Qwen2.5-VL-7B-Instruct",
    "qwen2.5-vl-72b-instruct": "Qwen/Qwen2.5-VL-72B-Instruct",
}
