"""Perception-LM: a timm Perception Encoder (PE core) tower, a two-layer MLP projector with 2x2 pooling and a Llama 3
LLM; images as a thumbnail plus tiles, several images and video."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "perception_lm",
    ("perception_lm",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    video=True,
    notes="Perception-LM (PLM); the vision tower is a timm model (needs `timm`).",
)

MODELS = [
    ModelEntry("tiny-perception-lm", "perception_lm", "(built locally)", tiny=True),
    ModelEntry("perception-lm-1b", "perception_lm", "facebook/Perception-LM-1B"),
    ModelEntry("perception-lm-3b", "perception_lm", "facebook/Perception-LM-3B"),
    ModelEntry("perception-lm-8b", "perception_lm", "facebook/Perception-LM-8B"),
]
