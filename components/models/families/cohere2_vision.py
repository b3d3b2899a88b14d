"""Command A Vision (Cohere2-Vision): SigLIP tower on tiles plus a thumbnail, pixel-shuffle SwiGLU projector, Cohere2.
Command A closes answers with `<|END_RESPONSE|><|END_OF_TURN_TOKEN|>`; both are supervised.
"""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "cohere2_vision",
    notes="Command A Vision; Command A turns: the generation prompt opens `<|START_RESPONSE|>`, answers end with "
    "`<|END_RESPONSE|><|END_OF_TURN_TOKEN|>` (the EOS); the template writes BOS.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "command-a-vision": "CohereLabs/command-a-vision-07-2025",
}
