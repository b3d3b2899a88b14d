"""GLM-4.6V: the GLM-4.1V architecture with the GLM-4.5V-style thinking template and timestamped video frames;
images, several images and video."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "glm46v",
    ("glm46v",),
    vision=("model.visual",),
    projector=("model.visual.downsample", "model.visual.merger"),
    llm=("model.language_model",),
    video=True,
    mixed_media_batches=False,  # see glm4v.py: image and video rows never share a batch
    notes="Thinking template: with thinking off each assistant turn opens with an empty `<think></think>`.",
)

MODELS = [
    ModelEntry("tiny-glm4.6v", "glm46v", "(built locally)", tiny=True),
    ModelEntry("glm-4.6v-flash", "glm46v", "zai-org/GLM-4.6V-Flash"),
]
