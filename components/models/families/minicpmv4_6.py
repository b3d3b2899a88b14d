"""MiniCPM-V 4.6 (transformers-native): SigLIP tower with a window-attention merger inside, a 2x2 downsampling MLP
merger, Qwen3.5 LLM (linear + full attention layers); images as an overview plus slices, several images and video."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "minicpmv4_6",
    projector=("model.merger",),
    video=True,
    packing=False,
    notes=(
        "MiniCPM-V 4.6; the window-attention merger inside the vision tower trains with the tower. "
        "The MiniCPM LLM is the Qwen3.5 text model. Packing off: the Gated DeltaNet linear-attention layers run "
        "their causal conv and recurrence along the whole row; the torch path of transformers 5.24 ignores "
        "cu_seq_lens_q, so each packed sample starts from the previous one's state."
    ),
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "minicpm-v-4.6": "openbmb/MiniCPM-V-4.6",
}
