"""LightOnOCR: Pixtral vision encoder, patch-merging projector, Qwen3 LLM; end-to-end page OCR."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "lighton_ocr",
    vision=("model.vision_encoder",),
    projector=("model.vision_projection",),
    multi_image=False,
    notes="LightOnOCR (one page image per request); ChatML turns ending with `<|im_end|>`, images at native aspect "
    "ratio.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "lighton-ocr-1b": "lightonai/LightOnOCR-1B-1025",
}
