"""Qwen3-VL (dense): SigLIP-2-style tower with DeepStack features fed into early LLM layers, interleaved M-RoPE,
timestamped video frames; images, several images and video."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import ids_of, train_tokenizer

FAMILY = Family(
    "qwen3_vl",
    ("qwen3_vl",),
    vision=("model.visual",),
    projector=("model.visual.merger", "model.visual.deepstack_merger_list"),
    llm=("model.language_model",),
    video=True,
    notes="DeepStack mergers count as projector.",
)

MODELS = [
    ModelEntry("tiny-qwen3-vl", "qwen3_vl", "(built locally)", tiny=True),
    ModelEntry("qwen3-vl-2b-instruct", "qwen3_vl", "Qwen/Qwen3-VL-2B-Instruct"),
    ModelEntry("qwen3-vl-4b-instruct", "qwen3_vl", "Qwen/Qwen3-VL-4B-Instruct"),
    ModelEntry("qwen3-vl-8b-instruct", "qwen3_vl", "Qwen/Qwen3-VL-8B-Instruct"),
    ModelEntry("qwen3-vl-32b-instruct", "qwen3_vl", "Qwen/Qwen3-VL-32B-Instruct"),
]

# Qwen3-VL / Qwen3.5 ChatML (written here, modelled on the shipped templates): no default system prompt, media pads
# in content order, `<|im_end|>\n` after every turn. Qwen3.5's real template also opens a `<think>` block in the
# generation prompt and drops reasoning from turns before the last user query; this one has no thinking.
CHATML_QWEN3 = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Per model_type: the config class, and text-config overrides (tiny MoE: 4 experts, top-2).
_MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32)
_VARIANTS = {
    "qwen3_vl": ("Qwen3VLConfig", dict(head_dim=16), True),
    "qwen3_vl_moe": ("Qwen3VLMoeConfig", dict(head_dim=16, **_MOE), True),
    "qwen3_5": (
        "Qwen3_5Config",
        dict(
            head_dim=32,
            layer_types=["linear_attention", "full_attention"],
            **{
                "linear_" + k: v
                for k, v in dict(key_head_dim=16, value_head_dim=16, num_key_heads=2, num_value_heads=4).items()
            },
        ),
        False,
    ),
    "qwen3_5_moe": (
        "Qwen3_5MoeConfig",
        dict(
            head_dim=32,
            layer_types=["linear_attention", "full_attention"],
            shared_expert_intermediate_size=32,
            **{
                "linear_" + k: v
                for k, v in dict(key_head_dim=16, value_head_dim=16, num_key_heads=2, num_value_heads=4).items()
            },
            **_MOE,
        ),
        False,
    ),
}


def build_qwen3(out: Path, model_type: str) -> None:
    import transformers as tf

    cfg_name, text_extra, deepstack = _VARIANTS[model_type]
    special = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    extra = ["<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    tok = train_tokenizer(special, extra)
    ids = ids_of(
        tok,
        image_token_id="<|image_pad|>",
        video_token_id="<|video_pad|>",
        vision_start_token_id="<|vision_start|>",
        vision_end_token_id="<|vision_end|>",
    )
    # Rotary dim = head_dim (Qwen3-VL) or head_dim * 0.25 (Qwen3.5); mrope_section sums to half of it.
    section = [4, 2, 2] if deepstack else [2, 1, 1]
    text = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=len(tok),
        rope_parameters={
            "rope_type": "default",
            "mrope_section": section,
            "mrope_interleaved": True,
            "rope_theta": 10000.0,
        },
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
        **text_extra,
    )
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=64,
        patch_size=16,
        num_position_embeddings=64,
    )
    if deepstack:
        vision["deepstack_visual_indexes"] = [0]
    cfg = getattr(tf, cfg_name)(text_config=text, vision_config=vision, **ids)
    cfg.eos_token_id, cfg.pad_token_id = tok.eos_token_id, tok.pad_token_id
    size = {"shortest_edge": 64 * 64, "longest_edge": 128 * 128}
    kw = dict(size=size, patch_size=16, merge_size=2, temporal_patch_size=2)
    proc = tf.Qwen3VLProcessor(
        image_processor=tf.Qwen2VLImageProcessor(**kw),
        video_processor=tf.Qwen3VLVideoProcessor(**kw),
        tokenizer=tok,
        chat_template=CHATML_QWEN3,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = [tok.eos_token_id]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)


def tiny(out: Path) -> None:
    build_qwen3(out, "qwen3_vl")
