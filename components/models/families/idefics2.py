"""Idefics2: SigLIP tower at native aspect ratio, perceiver-resampler connector, Mistral LLM; images."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "idefics2",
    ("idefics2",),
    vision=("model.vision_model",),
    projector=("model.connector",),
    llm=("model.text_model",),
    notes="Roles 'User:'/'Assistant:', every turn ends '<end_of_utterance>\\n'; the tokenizer adds BOS.",
)

MODELS = [
    ModelEntry("tiny-idefics2", "idefics2", "(built locally)", tiny=True),
    ModelEntry("idefics2-8b", "idefics2", "HuggingFaceM4/idefics2-8b"),
]
