"""LightOnOCR: Pixtral vision encoder, patch-merging projector, Qwen3 LLM; end-to-end page OCR."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "lighton_ocr",
    ("lighton_ocr",),
    vision=("model.vision_encoder",),
    projector=("model.vision_projection",),
    llm=("model.language_model",),
    multi_image=False,
    notes="LightOnOCR (one page image per request); ChatML turns ending with `<|im_end|>`, images at native aspect "
    "ratio.",
)

MODELS = [
    ModelEntry("tiny-lighton-ocr", "lighton_ocr", "(built locally)", tiny=True),
    ModelEntry("lighton-ocr-1b", "lighton_ocr", "lightonai/LightOnOCR-1B-1025"),
]
