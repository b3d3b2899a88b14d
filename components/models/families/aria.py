"""Aria (Rhymes): an Idefics3-style vision tower, a cross-attention projector with learned queries, a MoE LLM; images
(several per conversation), no video."""

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "aria",
    ("aria",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="Images are resized to 490 or 980 px (`max_image_size`); 128 or 256 tokens per image.",
)

MODELS = [
    ModelEntry("tiny-aria", "aria", "(built locally)", tiny=True),
    ModelEntry("aria", "aria", "rhymes-ai/Aria"),
]
