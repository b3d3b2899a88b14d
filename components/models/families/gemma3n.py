"""Gemma 3n: MobileNetV5 (timm) vision tower, per-layer embeddings and AltUp in the LLM; images (audio unused here)."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "gemma3n",
    ("gemma3n",),
    vision=("model.vision_tower",),
    projector=("model.embed_vision",),
    llm=("model.language_model",),
    notes="Needs `timm`. Image and text only here: the audio tower stays frozen. Gemma 3 chat format with "
    "<image_soft_token> placeholders.",
)

MODELS = [
    ModelEntry("tiny-gemma3n", "gemma3n", "(built locally)", tiny=True),
    ModelEntry("gemma-3n-e2b-it", "gemma3n", "google/gemma-3n-E2B-it"),
    ModelEntry("gemma-3n-e4b-it", "gemma3n", "google/gemma-3n-E4B-it"),
]
