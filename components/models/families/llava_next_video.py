"""LLaVA-NeXT-Video: the LLaVA-NeXT architecture (CLIP tower, anyres images) plus pooled video frames."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "llava_next_video",
    ("llava_next_video",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector", "model.image_newline"),
    llm=("model.language_model",),
    video=True,
    notes="LLaVA-NeXT-Video; the 7B (Vicuna) template emits no EOS after answers, so EOS is supervised.",
)

MODELS = [
    ModelEntry("tiny-llava-next-video", "llava_next_video", "(built locally)", tiny=True),
    ModelEntry("llava-next-video-7b", "llava_next_video", "llava-hf/LLaVA-NeXT-Video-7B-hf"),
    ModelEntry("llava-next-video-7b-dpo", "llava_next_video", "llava-hf/LLaVA-NeXT-Video-7B-DPO-hf"),
    ModelEntry("llava-next-video-34b", "llava_next_video", "llava-hf/LLaVA-NeXT-Video-34B-hf"),
]
