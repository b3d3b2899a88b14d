"""Gemma 3: SigLIP tower, average-pooled projector, Gemma 3 LLM; images (several per conversation), no video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "gemma3",
    notes="System message folded into the first user turn; bidirectional attention over image tokens.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "gemma-3-4b-it": "google/gemma-3-4b-it",
    "gemma-3-12b-it": "google/gemma-3-12b-it",
    "gemma-3-27b-it": "google/gemma-3-27b-it",
}
