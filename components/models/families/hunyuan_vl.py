"""HunyuanVL (HunyuanOCR): native-resolution ViT, an MLP adapter with learned image begin/end/row-separator embeddings
and a dense Hunyuan LLM with 4-axis XD-RoPE; images and several images (no video)."""

from __future__ import annotations

from components.models.family import Family, ModelEntry

FAMILY = Family(
    "hunyuan_vl",
    ("hunyuan_vl",),
    vision=("model.vision_tower",),
    projector=("model.vision_tower.patch_merger",),
    llm=("model.language_model",),
    video=False,
)

MODELS = [
    ModelEntry("tiny-hunyuan-vl", "hunyuan_vl", "(built locally)", tiny=True),
    ModelEntry("hunyuan-ocr", "hunyuan_vl", "tencent/HunyuanOCR"),
]
