"""PaddleOCR-VL: NaViT-style dynamic-resolution SigLIP tower, MLP projector and an ERNIE-4.5-0.3B LLM; a document
parsing model that takes images (no video)."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import ids_of, train_tokenizer

FAMILY = Family(
    "paddleocr_vl",
    ("paddleocr_vl",),
    vision=("model.visual",),
    projector=("model.projector",),
    llm=("model.language_model",),
    video=False,
    notes="The template renders every image of a turn before its text.",
)

MODELS = [
    ModelEntry("tiny-paddleocr-vl", "paddleocr_vl", "(built locally)", tiny=True),
    ModelEntry("paddleocr-vl", "paddleocr_vl", "PaddlePaddle/PaddleOCR-VL"),
]

# PaddleOCR-VL's format (written here, modelled on the shipped template): `<|begin_of_sentence|>`, "User: " with the
# turn's images first, "Assistant:\n" turns closed by `</s>`.
PADDLEOCR_VL = (
    "<|begin_of_sentence|>{% for m in messages %}"
    "{% if m['role'] == 'user' %}User: {% for c in m['content'] if c['type'] == 'image' %}"
    "<|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>{% endfor %}"
    "{% for c in m['content'] if c['type'] == 'text' %}{{ c['text'] }}{% endfor %}\n"
    "{% elif m['role'] == 'assistant' %}Assistant:\n"
    "{% for c in m['content'] if c['type'] == 'text' %}{{ c['text'] }}{% endfor %}</s>"
    "{% else %}{% for c in m['content'] if c['type'] == 'text' %}{{ c['text'] }}\n{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}Assistant:\n{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<unk>", "unk_token": "<unk>"}
    media = {"image_token": "<|IMAGE_PLACEHOLDER|>"}
    extra = ["<|begin_of_sentence|>", "<|end_of_sentence|>", "<|IMAGE_START|>", "<|IMAGE_END|>", *media.values()]
    base = train_tokenizer(special, extra)
    # The processor reads `tokenizer.image_token` / `image_token_id`.
    tok = tf.PreTrainedTokenizerFast(tokenizer_object=base.backend_tokenizer, extra_special_tokens=media, **special)
    ids = ids_of(
        tok,
        image_token_id="<|IMAGE_PLACEHOLDER|>",
        vision_start_token_id="<|IMAGE_START|>",
        vision_end_token_id="<|IMAGE_END|>",
    )
    text = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        vocab_size=len(tok),
        rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0},
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
    )
    vision = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=56, patch_size=14
    )
    cfg = tf.PaddleOCRVLConfig(text_config=text, vision_config=vision, **ids)
    cfg.eos_token_id, cfg.pad_token_id = tok.eos_token_id, tok.pad_token_id
    size = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
    proc = tf.PaddleOCRVLProcessor(
        image_processor=tf.PaddleOCRVLImageProcessor(size=size, patch_size=14, merge_size=2),
        tokenizer=tok,
        chat_template=PADDLEOCR_VL,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = [tok.eos_token_id]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
