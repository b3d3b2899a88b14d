"""LLaVA-NeXT-Video: the LLaVA-NeXT architecture (CLIP tower, anyres images) plus pooled video frames."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "llava_next_video",
    projector=("model.multi_modal_projector", "model.image_newline"),
    video=True,
    notes="LLaVA-NeXT-Video; the 7B (Vicuna) template emits no EOS after answers, so EOS is supervised.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "llava-next-video-7b": "llava-hf/LLaVA-NeXT-Video-7B-hf",
    "llava-next-video-7b-dpo": "llava-hf/LLaVA-NeXT-Video-7B-DPO-hf",
    "llava-next-video-34b": "llava-hf/LLaVA-NeXT-Video-34B-hf",
}
