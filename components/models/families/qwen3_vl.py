"""Qwen3-VL (dense): SigLIP-2-style tower with DeepStack features fed into early LLM layers, interleaved M-RoPE,
timestamped video frames; images, several images and video."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "qwen3_vl",
    ("qwen3_vl",),
    vision=("model.visual",),
    projector=("model.visual.merger", "model.visual.deepstack_merger_list"),
    llm=("model.language_model",),
    video=True,
    notes="DeepStack mergers count as projector.",
)

MODELS = [
    ModelEntry("tiny-qwen3-vl", "qwen3_vl", "(built locally)", tiny=True),
    ModelEntry("qwen3-vl-2b-instruct", "qwen3_vl", "Qwen/Qwen3-VL-2B-Instruct"),
    ModelEntry("qwen3-vl-4b-instruct", "qwen3_vl", "Qwen/Qwen3-VL-4B-Instruct"),
    ModelEntry("qwen3-vl-8b-instruct", "qwen3_vl", "Qwen/Qwen3-VL-8B-Instruct"),
    ModelEntry("qwen3-vl-32b-instruct", "qwen3_vl", "Qwen/Qwen3-VL-32B-Instruct"),
]
