"""InternVL 3 / 3.5 (the `-hf` conversions): InternViT tower, pixel-shuffle + MLP projector, Qwen LLM; dynamic tiling of
images, videos as frames of one tile each."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "internvl",
    video=True,
    notes="InternVL 3 and 3.5 in their transformers-native (`-hf`) conversions.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "internvl3-1b": "OpenGVLab/InternVL3-1B-hf",
    "internvl3-2b": "OpenGVLab/InternVL3-2B-hf",
    "internvl3-8b": "OpenGVLab/InternVL3-8B-hf",
    "internvl3.5-1b": "OpenGVLab/InternVL3_5-1B-HF",
    "internvl3.5-8b": "OpenGVLab/InternVL3_5-8B-HF",
}
