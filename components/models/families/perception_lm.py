"""Perception-LM: a timm Perception Encoder (PE core) tower, a two-layer MLP projector with 2x2 pooling and a Llama 3
LLM; images as a thumbnail plus tiles, several images and video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "perception_lm",
    video=True,
    notes="Perception-LM (PLM); the vision tower is a timm model (needs `timm`).",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "perception-lm-1b": "facebook/Perception-LM-1B",
    "perception-lm-3b": "facebook/Perception-LM-3B",
    "perception-lm-8b": "facebook/Perception-LM-8B",
}
