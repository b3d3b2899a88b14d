"""Gemma 3: SigLIP tower, average-pooled projector, Gemma 3 LLM; images (several per conversation), no video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "gemma3",
    packing=False,
    notes=(
        "System message folded into the first user turn; bidirectional attention over image tokens. "
        "Packing off: transformers 5.24 passes Gemma 3's bidirectional image-token blocks to the sliding-window "
        "mask as an or_mask_function, which masking_utils applies before remap_positions_for_packed_sequence, so "
        "in a packed row each sample looks up the first sample's image blocks at its own positions."
    ),
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "gemma-3-4b-it": "google/gemma-3-4b-it",
    "gemma-3-12b-it": "google/gemma-3-12b-it",
    "gemma-3-27b-it": "google/gemma-3-27b-it",
}
