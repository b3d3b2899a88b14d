"""Qwen3.5 (dense): natively multimodal Qwen3-Next LLM (gated DeltaNet linear attention + full attention layers)
with a Qwen3-VL-style vision tower; images, several images and video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "qwen3_5",
    vision=("model.visual",),
    projector=("model.visual.merger",),
    video=True,
    packing=False,
    notes=(
        "The shipped template is a thinking template: it opens `<think>` in the generation prompt and drops "
        "reasoning from assistant turns before the last user query. "
        "Packing off: the Gated DeltaNet linear-attention layers run their causal conv and recurrence along the "
        "whole row; the torch path of transformers 5.24 ignores cu_seq_lens_q, so each packed sample starts from "
        "the previous one's state."
    ),
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "qwen3.5-2b": "Qwen/Qwen3.5-2B",
    "qwen3.5-4b": "Qwen/Qwen3.5-4B",
    "qwen3.5-27b": "Qwen/Qwen3.5-27B",
}
