"""Mistral 3 (Mistral-Small-3.1/3.2): Pixtral vision encoder (2D RoPE, native aspect ratio), patch-merging projector."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "mistral3",
    ("mistral3",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="Mistral-Small 3.x; images keep their aspect ratio ([IMG] rows end in [IMG_BREAK], the image in [IMG_END]); "
    "the template writes BOS and a default system prompt.",
)

MODELS = [
    ModelEntry("tiny-mistral3", "mistral3", "(built locally)", tiny=True),
    ModelEntry("mistral-small-3.1-24b-instruct", "mistral3", "mistralai/Mistral-Small-3.1-24B-Instruct-2503"),
    ModelEntry("mistral-small-3.2-24b-instruct", "mistral3", "mistralai/Mistral-Small-3.2-24B-Instruct-2506"),
]
