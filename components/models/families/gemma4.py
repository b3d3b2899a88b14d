"""Gemma 4: ViT with 2-D positions and spatial pooling, Gemma 4 LLM; images (several) and video (timestamped frames).
Audio exists on some checkpoints; only image, video and text are used here."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "gemma4",
    projector=("model.embed_vision",),
    video=True,
    notes="Template written without thinking: the generation prompt is '<|turn>model\\n' (the shipped template adds "
    "an empty thought channel when thinking is off, which no training turn contains). Turns end '<turn|>\\n'.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "gemma-4-e2b-it": "google/gemma-4-E2B-it",
    "gemma-4-e4b-it": "google/gemma-4-E4B-it",
    "gemma-4-31b-it": "google/gemma-4-31B-it",
}
