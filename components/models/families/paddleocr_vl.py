"""PaddleOCR-VL: NaViT-style dynamic-resolution SigLIP tower, MLP projector and an ERNIE-4.5-0.3B LLM; a document
parsing model that takes images (no video)."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "paddleocr_vl",
    vision=("model.visual",),
    projector=("model.projector",),
    video=False,
    notes="The template renders every image of a turn before its text.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "paddleocr-vl": "PaddlePaddle/PaddleOCR-VL",
}
