"""ERNIE-4.5-VL: heterogeneous MoE LLM (separate text and vision experts plus shared experts), a ViT with 2D-RoPE and
a spatial/temporal resampler; images, several images and video."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import ids_of, train_tokenizer

FAMILY = Family(
    "ernie4_5_vl_moe",
    ("ernie4_5_vl_moe",),
    vision=("model.vision_tower",),
    projector=("model.resampler_model",),
    llm=("model.language_model",),
    video=True,
    notes="Routed experts are fused 3-D parameters: LLM LoRA covers attention, dense layers and shared experts "
    "(nn.Linear), not the routed experts. Real checkpoints draw timestamps on video frames (needs video metadata and "
    "the shipped font); the template is a thinking template (empty `<think>` block in the generation prompt).",
)

MODELS = [
    ModelEntry("tiny-ernie-4.5-vl", "ernie4_5_vl_moe", "(built locally)", tiny=True),
    ModelEntry("ernie-4.5-vl-28b-a3b", "ernie4_5_vl_moe", "baidu/ERNIE-4.5-VL-28B-A3B-PT"),
]

# ERNIE-4.5-VL's format (written here, modelled on the shipped template): `<|begin_of_sentence|>`, "User: " turns,
# numbered media wrapped in start/end markers, "\nAssistant: " turns closed by `<|end_of_sentence|>`; no thinking.
ERNIE_VL = (
    "<|begin_of_sentence|>{% set n = namespace(img=0, vid=0) %}{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}\nAssistant: {% elif m['role'] == 'user' %}User: {% endif %}"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}{% set n.img = n.img + 1 %}"
    "Picture {{ n.img }}:<|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>"
    "{% elif c['type'] == 'video' %}{% set n.vid = n.vid + 1 %}"
    "Video {{ n.vid }}:<|VIDEO_START|><|VIDEO_PLACEHOLDER|><|VIDEO_END|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if m['role'] == 'system' %}\n{% elif m['role'] == 'assistant' %}<|end_of_sentence|>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}\nAssistant: {% endif %}"
)

_MEDIA = {
    "image_token": "<|IMAGE_PLACEHOLDER|>",
    "image_start_token": "<|IMAGE_START|>",
    "image_end_token": "<|IMAGE_END|>",
    "video_token": "<|VIDEO_PLACEHOLDER|>",
    "video_start_token": "<|VIDEO_START|>",
    "video_end_token": "<|VIDEO_END|>",
}


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<unk>", "unk_token": "<unk>"}
    extra = ["<|begin_of_sentence|>", "<|end_of_sentence|>", *_MEDIA.values(), "<think>", "</think>"]
    base = train_tokenizer(special, extra)
    # The processor reads the media tokens as named tokenizer attributes (`tokenizer.image_token`, ...).
    tok = tf.PreTrainedTokenizerFast(tokenizer_object=base.backend_tokenizer, extra_special_tokens=_MEDIA, **special)
    ids = ids_of(tok, **{k + "_id": v for k, v in _MEDIA.items()})
    text = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=len(tok),
        rope_parameters={"rope_type": "default", "mrope_section": [3, 3, 2], "rope_theta": 10000.0},
        moe_intermediate_size=[32, 16],  # text experts, vision experts
        moe_num_experts=4,
        moe_k=2,
        moe_num_shared_experts=1,
        mlp_layer_types=["dense", "sparse"],
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
    )
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=14)
    cfg = tf.Ernie4_5_VLMoeConfig(text_config=text, vision_config=vision, **ids)
    cfg.eos_token_id, cfg.pad_token_id = tok.eos_token_id, tok.pad_token_id
    size = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
    proc = tf.Ernie4_5_VLMoeProcessor(
        image_processor=tf.Ernie4_5_VLMoeImageProcessor(size=size, patch_size=14, merge_size=2),
        # No font offline: timestamps are not drawn on the frames of the tiny checkpoint.
        video_processor=tf.Ernie4_5_VLMoeVideoProcessor(size=size, draw_on_frames=False),
        tokenizer=tok,
        chat_template=ERNIE_VL,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.convert_tokens_to_ids("<|end_of_sentence|>")]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
