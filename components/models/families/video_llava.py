"""Video-LLaVA: separate CLIP image and video towers (LanguageBind), one shared MLP projector; images and video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "video_llava",
    vision=("model.image_tower", "model.video_tower"),
    video=True,
    notes="Video-LLaVA; two vision towers (image, video) share the projector. The Vicuna template emits no EOS after "
    "answers, so EOS is supervised.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "video-llava-7b": "LanguageBind/Video-LLaVA-7B-hf",
}
