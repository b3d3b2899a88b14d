"""LLaVA-1.5 and LLaVA-Interleave (Qwen LLM): CLIP/SigLIP tower, MLP projector."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "llava",
    notes="LLaVA-1.5 and LLaVA-Interleave; the 1.5 template emits no EOS after answers, so EOS is supervised.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "llava-1.5-7b": "llava-hf/llava-1.5-7b-hf",
    "llava-1.5-13b": "llava-hf/llava-1.5-13b-hf",
    "llava-interleave-qwen-0.5b": "llava-hf/llava-interleave-qwen-0.5b-hf",
    "llava-interleave-qwen-7b": "llava-hf/llava-interleave-qwen-7b-hf",
}
