"""Molmo 2: SigLIP tower (two layers' features concatenated), attention pooling + MLP adapter, Qwen3 LLM; images as a
low-resolution overview plus overlapping crops, several images, one video per row."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import ids_of, train_tokenizer

FAMILY = Family(
    "molmo2",
    ("molmo2",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    video=True,
    system_prompt=False,  # the template raises on a system message
    mixed_media_batches=False,  # the model raises when pixel_values and pixel_values_videos come together
    notes=(
        "Molmo 2; its template puts every image / video before the conversation, ends an answer with <|im_end|> "
        "only when another turn follows, and rejects system messages (roles must alternate user/assistant)."
    ),
)

MODELS = [
    ModelEntry("tiny-molmo2", "molmo2", "(built locally)", tiny=True),
    ModelEntry("molmo2-4b", "molmo2", "allenai/Molmo2-4B"),
    ModelEntry("molmo2-8b", "molmo2", "allenai/Molmo2-8B"),
]

MEDIA = ["<im_start>", "<im_end>", "<im_patch>", "<im_col>", "<low_res_im_start>", "<im_low>", "<frame_start>"]
MEDIA += ["<frame_end>", "<|image|>", "<|video|>"]

# Molmo 2's format: all media first (`<|image|>`, or `Image N<|image|>` for several, then `<|video|>`), then ChatML
# turns; the user's <|im_end|>\n closes the previous answer, so the last answer has no end marker; user and assistant
# must alternate.
TEMPLATE = (
    "{% set n = namespace(img=0, vid=0) %}{% for m in messages %}{% if m['content'] is not string %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}{% set n.img = n.img + 1 %}"
    "{% elif c['type'] == 'video' %}{% set n.vid = n.vid + 1 %}{% endif %}{% endfor %}{% endif %}{% endfor %}"
    "{% if n.img == 1 %}<|image|>{% elif n.img > 1 %}{% for i in range(n.img) %}{{ 'Image ' ~ (i + 1) ~ '<|image|>' }}"
    "{% endfor %}{% endif %}{% for _ in range(n.vid) %}<|video|>{% endfor %}"
    "{% for m in messages %}{% if (loop.index % 2 == 1) != (m['role'] == 'user') %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if m['content'] is string %}{% set text = m['content'] %}{% else %}"
    "{% set text = m['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text') | join(' ') %}"
    "{% endif %}{% if m['role'] == 'user' %}{% if not loop.first %}{{ '<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>user\n' + text + '<|im_end|>\n' }}{% else %}{{ '<|im_start|>assistant\n' + text }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<|im_end|>", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    tok = train_tokenizer(special, ["<|im_start|>", *MEDIA])
    ids = ids_of(
        tok,
        image_start_token_id="<im_start>",
        low_res_image_start_token_id="<low_res_im_start>",
        image_end_token_id="<im_end>",
        image_patch_id="<im_patch>",
        frame_start_token_id="<frame_start>",
        frame_end_token_id="<frame_end>",
    )
    text = dict(
        vocab_size=len(tok),
        additional_vocab_size=0,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
    )
    # 56 px crops = 4 x 4 patches of 14 px; one patch of overlap margin on each side; 2 x 2 pooling per token.
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=16,
        image_size=[56, 56],
        patch_size=14,
    )
    adapter = dict(
        vision_feature_layer=[-1, 0],
        hidden_size=32,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=16,
        intermediate_size=64,
        text_hidden_size=64,
    )
    cfg = tf.Molmo2Config(text_config=text, vision_config=vision, adapter_config=adapter, **ids)
    crops = dict(size={"height": 56, "width": 56}, patch_size=14, pooling_size=[2, 2])
    proc = tf.Molmo2Processor(
        image_processor=tf.Molmo2ImageProcessor(**crops, max_crops=2, overlap_margins=[1, 1]),
        video_processor=tf.Molmo2VideoProcessor(**crops),
        tokenizer=tok,
        chat_template=TEMPLATE,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.bos_token_id = tok.eos_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
