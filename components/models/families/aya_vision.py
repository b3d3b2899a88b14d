"""Aya Vision (Cohere): SigLIP tower on tiles plus a global view, pixel-shuffle SwiGLU projector, Cohere2 LLM."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "aya_vision",
    notes="Aya Vision; Cohere turn tokens, answers end with `<|END_OF_TURN_TOKEN|>` (the EOS); the template "
    "writes BOS.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "aya-vision-8b": "CohereLabs/aya-vision-8b",
    "aya-vision-32b": "CohereLabs/aya-vision-32b",
}
