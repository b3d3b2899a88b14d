"""LLaVA-NeXT (1.6): CLIP tower, anyres tiling with an image-newline embedding, MLP projector."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "llava_next",
    projector=("model.multi_modal_projector", "model.image_newline"),
    notes="LLaVA-NeXT 1.6; the Mistral template has no generation-prompt branch (answers follow ` [/INST]`) "
    "and ends answers with `</s>`.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "llava-v1.6-mistral-7b": "llava-hf/llava-v1.6-mistral-7b-hf",
    "llava-v1.6-vicuna-7b": "llava-hf/llava-v1.6-vicuna-7b-hf",
    "llava-v1.6-vicuna-13b": "llava-hf/llava-v1.6-vicuna-13b-hf",
    "llava-v1.6-34b": "llava-hf/llava-v1.6-34b-hf",
    "llama3-llava-next-8b": "llava-hf/llama3-llava-next-8b-hf",
}
