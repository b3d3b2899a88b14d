"""GLM-4.5V: GLM-4.1V's vision side on the GLM-4.5-Air MoE LLM; images, several images and video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "glm4v_moe",
    vision=("model.visual",),
    projector=("model.visual.downsample", "model.visual.merger"),
    video=True,
    mixed_media_batches=False,  # see glm4v.py: image and video rows never share a batch
    notes="Routed experts are fused 3-D parameters: LLM LoRA covers attention, the dense first layer and the shared "
    "expert (nn.Linear), not the routed experts. Thinking template (empty `<think></think>` with thinking off).",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "glm-4.5v": "zai-org/GLM-4.5V",
}
