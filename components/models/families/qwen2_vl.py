"""Qwen2-VL: dynamic resolution, M-RoPE; images, several images and video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "qwen2_vl",
    vision=("model.visual",),
    projector=("model.visual.merger",),
    video=True,
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "qwen2-vl-2b-instruct": "Qwen/Qwen2-VL-2B-Instruct",
    "qwen2-vl-7b-instruct": "Qwen/Qwen2-VL-7B-Instruct",
    "qwen2-vl-72b-instruct": "Qwen/Qwen2-VL-72B-Instruct",
}
