"""LLaVA-NeXT (1.6): CLIP tower, anyres tiling with an image-newline embedding, MLP projector."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import clip_vision, text_config, train_tokenizer, wire_special_ids

FAMILY = Family(
    "llava_next",
    ("llava_next",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector", "model.image_newline"),
    llm=("model.language_model",),
    notes="LLaVA-NeXT 1.6; the Mistral template has no generation-prompt branch (answers follow ` [/INST]`) "
    "and ends answers with `</s>`.",
)

MODELS = [
    ModelEntry("tiny-llava-next", "llava_next", "(built locally)", tiny=True),
    ModelEntry("llava-v1.6-mistral-7b", "llava_next", "llava-hf/llava-v1.6-mistral-7b-hf"),
    ModelEntry("llava-v1.6-vicuna-7b", "llava_next", "llava-hf/llava-v1.6-vicuna-7b-hf"),
    ModelEntry("llava-v1.6-vicuna-13b", "llava_next", "llava-hf/llava-v1.6-vicuna-13b-hf"),
    ModelEntry("llava-v1.6-34b", "llava_next", "llava-hf/llava-v1.6-34b-hf"),
    ModelEntry("llama3-llava-next-8b", "llava_next", "llava-hf/llama3-llava-next-8b-hf"),
]

# LLaVA-NeXT Mistral format: [INST] <image>\n text [/INST] answer</s> ; images of a turn before its text; a system
# message as a <<SYS>> block; no generation-prompt branch (the prompt ends at ` [/INST]`).
TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\n' + message['content'][0]['text'] + '\n<</SYS>>\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' }}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'text') %}{{ c['text'] }}{% endfor %}"
    "{{ ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'][0]['text'] + '</s> ' }}"
    "{% else %}{{ raise_exception('Only system, user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    tok = train_tokenizer(special, ["<image>"], add_bos=True)
    text = text_config(tok, "mistral")
    vision = clip_vision()
    pinpoints = [[28, 28], [28, 56], [56, 28]]
    cfg = tf.LlavaNextConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,  # real: -2; -1 so LoRA on the last tiny layer gets gradients
    )
    wire_special_ids(cfg, tok)
    improc = tf.LlavaNextImageProcessor(
        size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}, image_grid_pinpoints=pinpoints
    )
    proc = tf.LlavaNextProcessor(
        image_processor=improc,
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
