"""Gemma 3: SigLIP tower, average-pooled projector, Gemma 3 LLM; images (several per conversation), no video."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "gemma3",
    ("gemma3",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="System message folded into the first user turn; bidirectional attention over image tokens.",
)

MODELS = [
    ModelEntry("tiny-gemma3", "gemma3", "(built locally)", tiny=True),
    ModelEntry("gemma-3-4b-it", "gemma3", "google/gemma-3-4b-it"),
    ModelEntry("gemma-3-12b-it", "gemma3", "google/gemma-3-12b-it"),
    ModelEntry("gemma-3-27b-it", "gemma3", "google/gemma-3-27b-it"),
]
