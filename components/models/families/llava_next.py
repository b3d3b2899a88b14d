"""LLaVA-NeXT (1.6): CLIP tower, anyres tiling with an image-newline embedding, MLP projector."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "llava_next",
    ("llava_next",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector", "model.image_newline"),
    llm=("model.language_model",),
    notes="LLaVA-NeXT 1.6; the Mistral template has no generation-prompt branch (answers follow ` [/INST]`) "
    "and ends answers with `</s>`.",
)

MODELS = [
    ModelEntry("tiny-llava-next", "llava_next", "(built locally)", tiny=True),
    ModelEntry("llava-v1.6-mistral-7b", "llava_next", "llava-hf/llava-v1.6-mistral-7b-hf"),
    ModelEntry("llava-v1.6-vicuna-7b", "llava_next", "llava-hf/llava-v1.6-vicuna-7b-hf"),
    ModelEntry("llava-v1.6-vicuna-13b", "llava_next", "llava-hf/llava-v1.6-vicuna-13b-hf"),
    ModelEntry("llava-v1.6-34b", "llava_next", "llava-hf/llava-v1.6-34b-hf"),
    ModelEntry("llama3-llava-next-8b", "llava_next", "llava-hf/llama3-llava-next-8b-hf"),
]
