"""PaddleOCR-VL: NaViT-style dynamic-resolution SigLIP tower, MLP projector and an ERNIE-4.5-0.3B LLM; a document
parsing model that takes images (no video)."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "paddleocr_vl",
    ("paddleocr_vl",),
    vision=("model.visual",),
    projector=("model.projector",),
    llm=("model.language_model",),
    video=False,
    notes="The template renders every image of a turn before its text.",
)

MODELS = [
    ModelEntry("tiny-paddleocr-vl", "paddleocr_vl", "(built locally)", tiny=True),
    ModelEntry("paddleocr-vl", "paddleocr_vl", "PaddlePaddle/PaddleOCR-VL"),
]
