"""ViP-LLaVA: LLaVA-1.5 with a CLIP tower read at several layers (concatenated) into a layer-normed MLP projector."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "vipllava",
    notes="ViP-LLaVA (visual prompts drawn on the image); `###Human:`/`###Assistant:` turns with no EOS, so EOS is "
    "supervised.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "vip-llava-7b": "llava-hf/vip-llava-7b-hf",
    "vip-llava-13b": "llava-hf/vip-llava-13b-hf",
}
