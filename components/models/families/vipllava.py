"""ViP-LLaVA: LLaVA-1.5 with a CLIP tower read at several layers (concatenated) into a layer-normed MLP projector."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import clip_vision, text_config, train_tokenizer, wire_special_ids

FAMILY = Family(
    "vipllava",
    ("vipllava",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="ViP-LLaVA (visual prompts drawn on the image); `###Human:`/`###Assistant:` turns with no EOS, so EOS is "
    "supervised.",
)

MODELS = [
    ModelEntry("tiny-vipllava", "vipllava", "(built locally)", tiny=True),
    ModelEntry("vip-llava-7b", "vipllava", "llava-hf/vip-llava-7b-hf"),
    ModelEntry("vip-llava-13b", "vipllava", "llava-hf/vip-llava-13b-hf"),
]

# ViP-LLaVA format: `<system>###Human: <image>\ntext###Assistant: answer`; a system message as bare text, images of a
# turn before its text, no end-of-turn token.
TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'][0]['text'] }}"
    "{% else %}{{ '###' + ('Human' if message['role'] == 'user' else 'Assistant') + ': ' }}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'text') %}{{ c['text'] }}{% endfor %}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '###Assistant:' }}{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    tok = train_tokenizer(special, ["<image>"], add_bos=True)
    text = text_config(tok, "llama")
    vision = clip_vision()
    cfg = tf.VipLlavaConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layers=[-1, 1],  # real: [-2, -5, -8, -11, 6] of 24 layers
        image_seq_length=4,
    )
    wire_special_ids(cfg, tok)
    proc = tf.LlavaProcessor(
        image_processor=tf.CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}),
        tokenizer=tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=TEMPLATE,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
