"""LFM2-VL: SigLIP2 NaFlex tower (native resolution, large images tiled), pixel-unshuffle MLP projector, LFM2 hybrid
conv/attention LLM; images."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "lfm2_vl",
    packing=False,
    notes=(
        "ChatML turns after a template-written BOS (<|startoftext|>); turns end '<|im_end|>\\n'. "
        "Packing off: LFM2's short-convolution layers run along the whole row with no per-sample reset "
        "(transformers 5.24), so each packed sample sees the end of the one before it."
    ),
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "lfm2-vl-450m": "LiquidAI/LFM2-VL-450M",
    "lfm2-vl-1.6b": "LiquidAI/LFM2-VL-1.6B",
}
