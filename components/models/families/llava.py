"""LLaVA-1.5 and LLaVA-Interleave (Qwen LLM): CLIP/SigLIP tower, MLP projector."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "llava",
    ("llava",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="LLaVA-1.5 and LLaVA-Interleave; the 1.5 template emits no EOS after answers, so EOS is supervised.",
)

MODELS = [
    ModelEntry("tiny-llava", "llava", "(built locally)", tiny=True),
    ModelEntry("llava-1.5-7b", "llava", "llava-hf/llava-1.5-7b-hf"),
    ModelEntry("llava-1.5-13b", "llava", "llava-hf/llava-1.5-13b-hf"),
    ModelEntry("llava-interleave-qwen-0.5b", "llava", "llava-hf/llava-interleave-qwen-0.5b-hf"),
    ModelEntry("llava-interleave-qwen-7b", "llava", "llava-hf/llava-interleave-qwen-7b-hf"),
]
