"""HunyuanVL (HunyuanOCR): native-resolution ViT, an MLP adapter with learned image begin/end/row-separator embeddings
and a dense Hunyuan LLM with 4-axis XD-RoPE; images and several images (no video)."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "hunyuan_vl",
    projector=("model.vision_tower.patch_merger",),
    video=False,
    packing=False,
    notes=(
        "Packing off: transformers 5.24 HunYuanVLTextModel.forward reads the text row of packed [1 + 4, rows, "
        "tokens] positions but never drops it and raises 'Expected 4 multimodal RoPE channels'; 4-axis positions "
        "alone give it no packed mask."
    ),
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "hunyuan-ocr": "tencent/HunyuanOCR",
}
