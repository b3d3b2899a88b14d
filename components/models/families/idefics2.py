"""Idefics2: SigLIP tower at native aspect ratio, perceiver-resampler connector, Mistral LLM; images."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "idefics2",
    vision=("model.vision_model",),
    projector=("model.connector",),
    llm=("model.text_model",),
    notes="Roles 'User:'/'Assistant:', every turn ends '<end_of_utterance>\\n'; the tokenizer adds BOS.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "idefics2-8b": "HuggingFaceM4/idefics2-8b",
}
