"""MiniCPM-V 4.7 (transformers-native): MiniCPM-V 4.6's tower, merger and processors with canvas M-RoPE, which pins
the image / slice markers and row newlines to the image canvas (their ids live in the config)."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "minicpmv4_7",
    projector=("model.merger",),
    video=True,
    packing=False,
    notes=(
        "MiniCPM-V 4.7; the window-attention merger inside the vision tower trains with the tower. "
        "The MiniCPM LLM is the Qwen3.5 text model. Packing off: the Gated DeltaNet linear-attention layers run "
        "their causal conv and recurrence along the whole row; the torch path of transformers 5.24 ignores "
        "cu_seq_lens_q, so each packed sample starts from the previous one's state."
    ),
)

MODELS: dict[str, str] = {}  # only the tiny checkpoint: no hub path for a 4.7 release is known to us yet
