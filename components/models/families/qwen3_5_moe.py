"""Qwen3.5 MoE (e.g. 35B-A3B): Qwen3.5 with sparse-MoE layers plus a shared expert; images, several images and
video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "qwen3_5_moe",
    vision=("model.visual",),
    projector=("model.visual.merger",),
    video=True,
    packing=False,
    notes=(
        "Routed experts are fused 3-D parameters: LLM LoRA covers attention, linear attention and the shared "
        "expert (nn.Linear), not the routed experts. The shipped template is a thinking template (see qwen3_5). "
        "Packing off: the Gated DeltaNet linear-attention layers run their causal conv and recurrence along the "
        "whole row; the torch path of transformers 5.24 ignores cu_seq_lens_q, so each packed sample starts from "
        "the previous one's state."
    ),
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "qwen3.5-35b-a3b": "Qwen/Qwen3.5-35B-A3B",
}
