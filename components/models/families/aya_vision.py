"""Aya Vision (Cohere): SigLIP tower on tiles plus a global view, pixel-shuffle SwiGLU projector, Cohere2 LLM."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "aya_vision",
    ("aya_vision",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="Aya Vision; Cohere turn tokens, answers end with `<|END_OF_TURN_TOKEN|>` (the EOS); the template "
    "writes BOS.",
)

MODELS = [
    ModelEntry("tiny-aya-vision", "aya_vision", "(built locally)", tiny=True),
    ModelEntry("aya-vision-8b", "aya_vision", "CohereLabs/aya-vision-8b"),
    ModelEntry("aya-vision-32b", "aya_vision", "CohereLabs/aya-vision-32b"),
]
