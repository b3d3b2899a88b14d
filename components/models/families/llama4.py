"""Llama 4 (Scout / Maverick): a tiled ViT with pixel-shuffle MLP, a linear projector and a mixture-of-experts LLM;
several images per row."""

from __future__ import annotations

from components.models.family import Family

BUG = (
    "transformers 5.24 Llama4ForConditionalGeneration.forward (models/llama4/modeling_llama4.py, line 1318) builds "
    "its output with `image_outputs=outputs.image_outputs`, but `outputs` is the language model's "
    "MoeCausalLMOutputWithPast, which has no such field, so every forward raises; fixed when a release passes the "
    "vision encoder's outputs there"
)

FAMILY = Family(
    "llama4",
    vision=("vision_model",),
    projector=("multi_modal_projector", "vision_model.vision_adapter"),
    llm=("language_model",),
    known_bugs=(("'MoeCausalLMOutputWithPast' object has no attribute 'image_outputs'", BUG),),
    notes="Llama 4 Scout / Maverick; the vision adapter (pixel-shuffle MLP) counts as projector.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "llama-4-scout-17b-16e-instruct": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "llama-4-maverick-17b-128e-instruct": "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
}
