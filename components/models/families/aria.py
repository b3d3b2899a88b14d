"""Aria (Rhymes): an Idefics3-style vision tower, a cross-attention projector with learned queries, a MoE LLM; images
(several per conversation), no video."""

from components.models.family import Family

FAMILY = Family(
    "aria",
    notes="Images are resized to 490 or 980 px (`max_image_size`); 128 or 256 tokens per image.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "aria": "rhymes-ai/Aria",
}
