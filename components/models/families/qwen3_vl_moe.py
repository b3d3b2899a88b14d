"""Qwen3-VL MoE (e.g. 30B-A3B): Qwen3-VL with a sparse-MoE LLM; images, several images and video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "qwen3_vl_moe",
    vision=("model.visual",),
    projector=("model.visual.merger", "model.visual.deepstack_merger_list"),
    video=True,
    notes="DeepStack mergers count as projector. Experts are fused 3-D parameters: LLM LoRA covers the attention "
    "projections (nn.Linear), not the experts or the router (train the LLM in full to tune them).",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "qwen3-vl-30b-a3b-instruct": "Qwen/Qwen3-VL-30B-A3B-Instruct",
    "qwen3-vl-235b-a22b-instruct": "Qwen/Qwen3-VL-235B-A22B-Instruct",
}
