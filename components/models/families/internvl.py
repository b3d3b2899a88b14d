"""InternVL 3 / 3.5 (the `-hf` conversions): InternViT tower, pixel-shuffle + MLP projector, Qwen LLM; dynamic tiling of
images, videos as frames of one tile each."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "internvl",
    ("internvl",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    video=True,
    notes="InternVL 3 and 3.5 in their transformers-native (`-hf`) conversions.",
)

MODELS = [
    ModelEntry("tiny-internvl", "internvl", "(built locally)", tiny=True),
    ModelEntry("internvl3-1b", "internvl", "OpenGVLab/InternVL3-1B-hf"),
    ModelEntry("internvl3-2b", "internvl", "OpenGVLab/InternVL3-2B-hf"),
    ModelEntry("internvl3-8b", "internvl", "OpenGVLab/InternVL3-8B-hf"),
    ModelEntry("internvl3.5-1b", "internvl", "OpenGVLab/InternVL3_5-1B-HF"),
    ModelEntry("internvl3.5-8b", "internvl", "OpenGVLab/InternVL3_5-8B-HF"),
]
