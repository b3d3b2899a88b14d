"""Aya Vision (Cohere): SigLIP tower on tiles plus a global view, pixel-shuffle SwiGLU projector, Cohere2 LLM."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import siglip_vision, text_config, train_tokenizer, wire_special_ids

FAMILY = Family(
    "aya_vision",
    ("aya_vision",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="Aya Vision; Cohere turn tokens, answers end with `<|END_OF_TURN_TOKEN|>` (the EOS); the template "
    "writes BOS.",
)

MODELS = [
    ModelEntry("tiny-aya-vision", "aya_vision", "(built locally)", tiny=True),
    ModelEntry("aya-vision-8b", "aya_vision", "CohereLabs/aya-vision-8b"),
    ModelEntry("aya-vision-32b", "aya_vision", "CohereLabs/aya-vision-32b"),
]

# Cohere chat format: <BOS_TOKEN><|START_OF_TURN_TOKEN|><|USER_TOKEN|>...<|END_OF_TURN_TOKEN|>
# <|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>answer<|END_OF_TURN_TOKEN|>; content order kept, images as `<image>`.
TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = {'system': 'SYSTEM', 'user': 'USER', 'assistant': 'CHATBOT'}[message['role']] %}"
    "{{ '<|START_OF_TURN_TOKEN|><|' + role + '_TOKEN|>' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}{{ '<image>' }}{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '<|END_OF_TURN_TOKEN|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<BOS_TOKEN>", "eos_token": "<|END_OF_TURN_TOKEN|>", "pad_token": "<PAD>"}
    extra = [
        "<|START_OF_TURN_TOKEN|>",
        "<|SYSTEM_TOKEN|>",
        "<|USER_TOKEN|>",
        "<|CHATBOT_TOKEN|>",
        "<image>",
        "<|START_OF_IMG|>",
        "<|END_OF_IMG|>",
        "<|IMG_PATCH|>",
        "<|IMG_LINE_BREAK|>",
    ]
    tok = train_tokenizer(special, extra, add_bos=True)
    text = text_config(tok, "cohere2")
    vision = siglip_vision(vision_use_head=False, image_size=56)
    cfg = tf.AyaVisionConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<|IMG_PATCH|>"),
        downsample_factor=2,
        alignment_intermediate_size=64,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    wire_special_ids(cfg, tok)
    improc = tf.GotOcr2ImageProcessor(
        size={"height": 56, "width": 56}, crop_to_patches=True, min_patches=1, max_patches=2
    )
    proc = tf.AyaVisionProcessor(
        image_processor=improc, tokenizer=tok, patch_size=28, img_size=56, downsample_factor=1, chat_template=TEMPLATE
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
