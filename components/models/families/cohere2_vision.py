"""Command A Vision (Cohere2-Vision): SigLIP tower on tiles plus a thumbnail, pixel-shuffle SwiGLU projector, Cohere2.
Command A closes answers with `<|END_RESPONSE|><|END_OF_TURN_TOKEN|>`; both are supervised.
"""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "cohere2_vision",
    ("cohere2_vision",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="Command A Vision; Command A turns: the generation prompt opens `<|START_RESPONSE|>`, answers end with "
    "`<|END_RESPONSE|><|END_OF_TURN_TOKEN|>` (the EOS); the template writes BOS.",
)

MODELS = [
    ModelEntry("tiny-cohere2-vision", "cohere2_vision", "(built locally)", tiny=True),
    ModelEntry("command-a-vision", "cohere2_vision", "CohereLabs/command-a-vision-07-2025"),
]
