"""Qwen3-VL (dense): SigLIP-2-style tower with DeepStack features fed into early LLM layers, interleaved M-RoPE,
timestamped video frames; images, several images and video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "qwen3_vl",
    vision=("model.visual",),
    projector=("model.visual.merger", "model.visual.deepstack_merger_list"),
    video=True,
    notes="DeepStack mergers count as projector.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "qwen3-vl-2b-instruct": "Qwen/Qwen3-VL-2B-Instruct",
    "qwen3-vl-4b-instruct": "Qwen/Qwen3-VL-4B-Instruct",
    "qwen3-vl-8b-instruct": "Qwen/Qwen3-VL-8B-Instruct",
    "qwen3-vl-32b-instruct": "Qwen/Qwen3-VL-32B-Instruct",
}
