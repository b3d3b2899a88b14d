"""Phi-4-multimodal (transformers-native): SigLIP-style tower with HD crops, a two-layer MLP projector, Phi-4-mini LLM;
also an audio encoder (not used here: we train on images and text)."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "phi4_multimodal",
    # The tower's embeddings and encoder: its post-layernorm and pooling head run but feed nothing the model uses.
    vision=(
        "model.embed_tokens_extend.image_embed.img_processor.embeddings",
        "model.embed_tokens_extend.image_embed.img_processor.encoder",
    ),
    # The projector is the two linears of image_embed (the module itself also holds the tower, and PEFT cannot put
    # LoRA inside a module it saves whole); its two separator vectors go with the projector only in full runs.
    projector=(
        "model.embed_tokens_extend.image_embed.img_projection_up",
        "model.embed_tokens_extend.image_embed.img_projection_down",
    ),
    llm=("model.embed_tokens", "model.layers", "model.norm"),
    auto_class="AutoModelForMultimodalLM",
    notes=(
        "Phi-4-multimodal; image and text (the audio encoder stays frozen). Its template writes EOS once after the "
        "last turn; answers are supervised as answer + <|end|>."
    ),
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "phi-4-multimodal-instruct": "microsoft/Phi-4-multimodal-instruct",
}
