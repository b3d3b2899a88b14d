"""Qwen3-VL MoE (e.g. 30B-A3B): Qwen3-VL with a sparse-MoE LLM; images, several images and video."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "qwen3_vl_moe",
    ("qwen3_vl_moe",),
    vision=("model.visual",),
    projector=("model.visual.merger", "model.visual.deepstack_merger_list"),
    llm=("model.language_model",),
    video=True,
    notes="DeepStack mergers count as projector. Experts are fused 3-D parameters: LLM LoRA covers the attention "
    "projections (nn.Linear), not the experts or the router (train the LLM in full to tune them).",
)

MODELS = [
    ModelEntry("tiny-qwen3-vl-moe", "qwen3_vl_moe", "(built locally)", tiny=True),
    ModelEntry("qwen3-vl-30b-a3b-instruct", "qwen3_vl_moe", "Qwen/Qwen3-VL-30B-A3B-Instruct"),
    ModelEntry("qwen3-vl-235b-a22b-instruct", "qwen3_vl_moe", "Qwen/Qwen3-VL-235B-A22B-Instruct"),
]
