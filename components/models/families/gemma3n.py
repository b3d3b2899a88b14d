"""Gemma 3n: MobileNetV5 (timm) vision tower, per-layer embeddings and AltUp in the LLM; images (audio unused here)."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "gemma3n",
    projector=("model.embed_vision",),
    notes="Needs `timm`. Image and text only here: the audio tower stays frozen. Gemma 3 chat format with "
    "<image_soft_token> placeholders.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "gemma-3n-e2b-it": "google/gemma-3n-E2B-it",
    "gemma-3n-e4b-it": "google/gemma-3n-E4B-it",
}
