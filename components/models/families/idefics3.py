"""Idefics3: SigLIP tower, pixel-shuffle connector, Llama 3 LLM; images split into tiles plus a global view."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "idefics3",
    vision=("model.vision_model",),
    projector=("model.connector",),
    llm=("model.text_model",),
    notes="Template writes BOS itself; roles 'User:'/'Assistant:', every turn ends '<end_of_utterance>\\n'.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "idefics3-8b-llama3": "HuggingFaceM4/Idefics3-8B-Llama3",
}
