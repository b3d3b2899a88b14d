"""Video-LLaVA: separate CLIP image and video towers (LanguageBind), one shared MLP projector; images and video."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "video_llava",
    ("video_llava",),
    vision=("model.image_tower", "model.video_tower"),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    video=True,
    notes="Video-LLaVA; two vision towers (image, video) share the projector. The Vicuna template emits no EOS after "
    "answers, so EOS is supervised.",
)

MODELS = [
    ModelEntry("tiny-video-llava", "video_llava", "(built locally)", tiny=True),
    ModelEntry("video-llava-7b", "video_llava", "LanguageBind/Video-LLaVA-7B-hf"),
]
