"""MiniCPM-V 4.7 (transformers-native): MiniCPM-V 4.6's tower, merger and processors with canvas M-RoPE, which pins
the image / slice markers and row newlines to the image canvas (their ids live in the config)."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "minicpmv4_7",
    ("minicpmv4_7",),
    vision=("model.vision_tower",),
    projector=("model.merger",),
    llm=("model.language_model",),
    video=True,
    notes="MiniCPM-V 4.7; the window-attention merger inside the vision tower trains with the tower.",
)

MODELS: list = []  # only the tiny checkpoint: no hub path for a 4.7 release is known to us yet
