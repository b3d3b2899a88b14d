"""Llama 3.2 Vision (mllama): a tiled ViT whose features enter the Llama LLM through gated cross-attention layers; the
prompt holds one `<|image|>` token per image and no expanded image tokens."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "mllama",
    vision=("model.vision_model",),
    multi_image=False,
    quirks=frozenset({"pil_image_processor"}),
    packing=False,
    notes=(
        "Llama 3.2 Vision; images reach the LLM through cross-attention layers (in the LLM, so they take its LoRA). "
        "One image per row: the processor accepts several, but Meta did not train on several and recommends one. "
        "Loads the PIL image processor: in transformers 5.24 the torchvision MllamaImageProcessor._preprocess calls "
        "reorder_images twice on one index whose `_num_sublists` the first call pops (image_transforms."
        "_reconstruct_nested_structure), so a batch ending in text-only rows gets fewer aspect_ratio_ids than rows. "
        "Packing off: images are laid out per row (pixel_values [rows, images, tiles, ...], cross_attention_mask "
        "[rows, tokens, images, tiles]), so samples cannot share a row without re-indexing their images into the "
        "row's image axis."
    ),
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "llama-3.2-11b-vision-instruct": "meta-llama/Llama-3.2-11B-Vision-Instruct",
    "llama-3.2-90b-vision-instruct": "meta-llama/Llama-3.2-90B-Vision-Instruct",
}
