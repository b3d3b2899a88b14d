"""LLaVA-OneVision: SigLIP tower, anyres tiling; images, several images and video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "llava_onevision",
    video=True,
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "llava-onevision-0.5b-ov": "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
    "llava-onevision-7b-ov": "llava-hf/llava-onevision-qwen2-7b-ov-hf",
    "llava-onevision-72b-ov": "llava-hf/llava-onevision-qwen2-72b-ov-hf",
}
