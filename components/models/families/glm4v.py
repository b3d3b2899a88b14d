"""GLM-4.1V: GLM-4 LLM with 3D-RoPE, a ViT with 2D-RoPE and a conv downsample + MLP merger; images, several
images and video (frames carry their timestamp)."""

from __future__ import annotations

from components.models.family import Family

# transformers 5.24 GLM-4.1V/4.5V/4.6V get_placeholder_mask counts video-frame tokens (reusing `<|image|>`) as image
# tokens, so a batch holding both images and a video fails ("Image features and image tokens do not match"); batches
# with only images or only videos work. The families declare mixed_media_batches=False, so the trainer forms every
# batch from one media kind.

FAMILY = Family(
    "glm4v",
    vision=("model.visual",),
    projector=("model.visual.downsample", "model.visual.merger"),
    video=True,
    mixed_media_batches=False,  # see glm4v.py: image and video rows never share a batch
    notes="The real template ends an assistant turn at the next role token (`<|user|>`, supervised as the stop); "
    "the last turn gets EOS.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "glm-4.1v-9b-thinking": "zai-org/GLM-4.1V-9B-Thinking",
}
