"""LFM2-VL: SigLIP2 NaFlex tower (native resolution, large images tiled), pixel-unshuffle MLP projector, LFM2 hybrid
conv/attention LLM; images."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "lfm2_vl",
    ("lfm2_vl",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="ChatML turns after a template-written BOS (<|startoftext|>); turns end '<|im_end|>\\n'.",
)

MODELS = [
    ModelEntry("tiny-lfm2-vl", "lfm2_vl", "(built locally)", tiny=True),
    ModelEntry("lfm2-vl-450m", "lfm2_vl", "LiquidAI/LFM2-VL-450M"),
    ModelEntry("lfm2-vl-1.6b", "lfm2_vl", "LiquidAI/LFM2-VL-1.6B"),
]
