"""Molmo 2: SigLIP tower (two layers' features concatenated), attention pooling + MLP adapter, Qwen3 LLM; images as a
low-resolution overview plus overlapping crops, several images, one video per row."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "molmo2",
    video=True,
    system_prompt=False,  # the template raises on a system message
    mixed_media_batches=False,  # the model raises when pixel_values and pixel_values_videos come together
    notes=(
        "Molmo 2; its template puts every image / video before the conversation, ends an answer with <|im_end|> "
        "only when another turn follows, and rejects system messages (roles must alternate user/assistant)."
    ),
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "molmo2-4b": "allenai/Molmo2-4B",
    "molmo2-8b": "allenai/Molmo2-8B",
}
