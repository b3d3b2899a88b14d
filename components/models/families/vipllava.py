"""ViP-LLaVA: LLaVA-1.5 with a CLIP tower read at several layers (concatenated) into a layer-normed MLP projector."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "vipllava",
    ("vipllava",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="ViP-LLaVA (visual prompts drawn on the image); `###Human:`/`###Assistant:` turns with no EOS, so EOS is "
    "supervised.",
)

MODELS = [
    ModelEntry("tiny-vipllava", "vipllava", "(built locally)", tiny=True),
    ModelEntry("vip-llava-7b", "vipllava", "llava-hf/vip-llava-7b-hf"),
    ModelEntry("vip-llava-13b", "vipllava", "llava-hf/vip-llava-13b-hf"),
]
