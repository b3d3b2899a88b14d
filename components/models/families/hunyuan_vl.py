"""HunyuanVL (HunyuanOCR): native-resolution ViT, an MLP adapter with learned image begin/end/row-separator embeddings
and a dense Hunyuan LLM with 4-axis XD-RoPE; images and several images (no video)."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import ids_of, train_tokenizer

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

_BOS, _EOS, _SEP = "<｜hy_begin▁of▁sentence｜>", "<｜hy_place▁holder▁no▁2｜>", "<｜hy_place▁holder▁no▁3｜>"
_MEDIA = {
    "image_start_token": "<｜hy_place▁holder▁no▁100｜>",
    "image_end_token": "<｜hy_place▁holder▁no▁101｜>",
    "image_token": "<｜hy_place▁holder▁no▁102｜>",
}

# Hunyuan's format (written here, modelled on the shipped template): BOS, the system text closed by a separator,
# `<｜hy_User｜>` / `<｜hy_Assistant｜>` turns, assistant turns closed by EOS, images wrapped in start/end tokens.
HUNYUAN_VL = (
    _BOS + "{% for m in messages %}"
    "{% if m['role'] == 'user' %}<｜hy_User｜>{% elif m['role'] == 'assistant' %}<｜hy_Assistant｜>{% endif %}"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}"
    + "".join(_MEDIA[k] for k in ("image_start_token", "image_token", "image_end_token"))
    + "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if m['role'] == 'system' %}" + _SEP + "{% elif m['role'] == 'assistant' %}" + _EOS + "{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<｜hy_Assistant｜>{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": _BOS, "eos_token": _EOS, "pad_token": "<｜hy_▁pad▁｜>"}
    base = train_tokenizer(special, [_SEP, "<｜hy_User｜>", "<｜hy_Assistant｜>", *_MEDIA.values()])
    # The processor reads the image tokens as named tokenizer attributes.
    tok = tf.PreTrainedTokenizerFast(tokenizer_object=base.backend_tokenizer, extra_special_tokens=_MEDIA, **special)
    ids = ids_of(
        tok,
        image_token_id=_MEDIA["image_token"],
        im_start_id=_MEDIA["image_start_token"],
        im_end_id=_MEDIA["image_end_token"],
    )
    text = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        vocab_size=len(tok),
        # Axes (sequence, width, height, image index), each a quarter of the rotary half-dim, as the real config.
        rope_parameters={"rope_type": "default", "mrope_section": [2, 2, 2, 2], "rope_theta": 10000.0},
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        patch_size=16,
        out_hidden_size=64,
        text_hidden_size=64,
        max_image_size=128,
        min_image_size=32,
    )
    cfg = tf.HunYuanVLConfig(text_config=text, vision_config=vision, **ids)
    cfg.eos_token_id, cfg.pad_token_id = tok.eos_token_id, tok.pad_token_id
    size = {"shortest_edge": 64 * 64, "longest_edge": 128 * 128}
    proc = tf.HunYuanVLProcessor(
        image_processor=tf.HunYuanVLImageProcessor(size=size, patch_size=16, merge_size=2),
        tokenizer=tok,
        chat_template=HUNYUAN_VL,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = [tok.eos_token_id]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
