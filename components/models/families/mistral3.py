"""Mistral 3 (Mistral-Small-3.1/3.2): Pixtral vision encoder (2D RoPE, native aspect ratio), patch-merging projector."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import text_config, train_tokenizer, wire_special_ids

FAMILY = Family(
    "mistral3",
    ("mistral3",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="Mistral-Small 3.x; images keep their aspect ratio ([IMG] rows end in [IMG_BREAK], the image in [IMG_END]); "
    "the template writes BOS and a default system prompt.",
)

MODELS = [
    ModelEntry("tiny-mistral3", "mistral3", "(built locally)", tiny=True),
    ModelEntry("mistral-small-3.1-24b-instruct", "mistral3", "mistralai/Mistral-Small-3.1-24B-Instruct-2503"),
    ModelEntry("mistral-small-3.2-24b-instruct", "mistral3", "mistralai/Mistral-Small-3.2-24B-Instruct-2506"),
]

# Mistral-Small 3.1 format: <s>[SYSTEM_PROMPT]...[/SYSTEM_PROMPT][INST]text[IMG]...[/INST]answer</s> ; content order
# kept; a default system prompt when none is given; no generation-prompt branch.
TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{% set system = messages[0]['content'] if messages[0]['content'] is string "
    "else messages[0]['content'][0]['text'] %}{% set loop_messages = messages[1:] %}"
    "{% else %}{% set system = 'You are a helpful assistant.' %}{% set loop_messages = messages %}{% endif %}"
    "{{ '[SYSTEM_PROMPT]' + system + '[/SYSTEM_PROMPT]' }}"
    "{% for message in loop_messages %}{% if message['role'] == 'user' %}"
    "{% if message['content'] is string %}{{ '[INST]' + message['content'] + '[/INST]' }}"
    "{% else %}{{ '[INST]' }}{% for block in message['content'] %}"
    "{% if block['type'] == 'text' %}{{ block['text'] }}{% elif block['type'] in ['image', 'image_url'] %}{{ '[IMG]' }}"
    "{% else %}{{ raise_exception('Only text and image blocks are supported in message content!') }}{% endif %}"
    "{% endfor %}{{ '[/INST]' }}{% endif %}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ (message['content'] if message['content'] is string else message['content'][0]['text']) + eos_token }}"
    "{% else %}{{ raise_exception('Only user, system and assistant roles are supported!') }}{% endif %}{% endfor %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    extra = ["[INST]", "[/INST]", "[IMG]", "[IMG_BREAK]", "[IMG_END]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"]
    tok = train_tokenizer(special, extra, add_bos=True)
    text = text_config(tok, "mistral", head_dim=16, sliding_window=None)
    vision = dict(
        model_type="pixtral",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        head_dim=16,
        image_size=56,
        patch_size=14,
    )
    cfg = tf.Mistral3Config(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("[IMG]"),
        spatial_merge_size=2,
        vision_feature_layer=-1,
    )
    wire_special_ids(cfg, tok)
    proc = tf.PixtralProcessor(
        image_processor=tf.PixtralImageProcessor(size={"longest_edge": 56}, patch_size={"height": 14, "width": 14}),
        tokenizer=tok,
        patch_size=14,
        spatial_merge_size=2,
        chat_template=TEMPLATE,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
