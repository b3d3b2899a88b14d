"""LightOnOCR: Pixtral vision encoder, patch-merging projector, Qwen3 LLM; end-to-end page OCR."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import TEXT_QWEN, train_tokenizer

FAMILY = Family(
    "lighton_ocr",
    ("lighton_ocr",),
    vision=("model.vision_encoder",),
    projector=("model.vision_projection",),
    llm=("model.language_model",),
    multi_image=False,
    notes="LightOnOCR (one page image per request); ChatML turns ending with `<|im_end|>`, images at native aspect "
    "ratio.",
)

MODELS = [
    ModelEntry("tiny-lighton-ocr", "lighton_ocr", "(built locally)", tiny=True),
    ModelEntry("lighton-ocr-1b", "lighton_ocr", "lightonai/LightOnOCR-1B-1025"),
]

# ChatML (Qwen3 tokenizer): <|im_start|>role\n...<|im_end|>\n ; the image as `<|image_pad|>` in content order.
TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}{{ '<|image_pad|>' }}{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "image_token": "<|image_pad|>",
        "image_break_token": "<|vision_pad|>",
        "image_end_token": "<|vision_end|>",
    }
    tok = train_tokenizer(special, ["<|im_start|>"])
    text = dict(
        TEXT_QWEN,
        model_type="qwen3",
        head_dim=16,
        vocab_size=len(tok),
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
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
    cfg = tf.LightOnOcrConfig(
        text_config=text, vision_config=vision, image_token_id=tok.image_token_id, spatial_merge_size=2
    )
    cfg.eos_token_id, cfg.pad_token_id = tok.eos_token_id, tok.pad_token_id
    proc = tf.LightOnOcrProcessor(
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
