"""GLM-4.5V: GLM-4.1V's vision side on the GLM-4.5-Air MoE LLM; images, several images and video."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "glm4v_moe",
    ("glm4v_moe",),
    vision=("model.visual",),
    projector=("model.visual.downsample", "model.visual.merger"),
    llm=("model.language_model",),
    video=True,
    mixed_media_batches=False,  # see glm4v.py: image and video rows never share a batch
    notes="Routed experts are fused 3-D parameters: LLM LoRA covers attention, the dense first layer and the shared "
    "expert (nn.Linear), not the routed experts. Thinking template (empty `<think></think>` with thinking off).",
)

MODELS = [
    ModelEntry("tiny-glm4.5v", "glm4v_moe", "(built locally)", tiny=True),
    ModelEntry("glm-4.5v", "glm4v_moe", "zai-org/GLM-4.5V"),
]
