"""GLM-4.6V: the GLM-4.1V architecture with the GLM-4.5V-style thinking template and timestamped video frames;
images, several images and video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "glm46v",
    vision=("model.visual",),
    projector=("model.visual.downsample", "model.visual.merger"),
    video=True,
    mixed_media_batches=False,  # see glm4v.py: image and video rows never share a batch
    notes="Thinking template: with thinking off each assistant turn opens with an empty `<think></think>`.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "glm-4.6v-flash": "zai-org/GLM-4.6V-Flash",
}
