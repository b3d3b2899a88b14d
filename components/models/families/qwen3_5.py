"""Qwen3.5 (dense): natively multimodal Qwen3-Next LLM (gated DeltaNet linear attention + full attention layers)
with a Qwen3-VL-style vision tower; images, several images and video."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "qwen3_5",
    ("qwen3_5",),
    vision=("model.visual",),
    projector=("model.visual.merger",),
    llm=("model.language_model",),
    video=True,
    notes="The shipped template is a thinking template: it opens `<think>` in the generation prompt and drops "
    "reasoning from assistant turns before the last user query.",
)

MODELS = [
    ModelEntry("tiny-qwen3.5", "qwen3_5", "(built locally)", tiny=True),
    ModelEntry("qwen3.5-2b", "qwen3_5", "Qwen/Qwen3.5-2B"),
    ModelEntry("qwen3.5-4b", "qwen3_5", "Qwen/Qwen3.5-4B"),
    ModelEntry("qwen3.5-27b", "qwen3_5", "Qwen/Qwen3.5-27B"),
]
