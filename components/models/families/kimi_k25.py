"""Kimi K2.5: MoonViT tower (2D RoPE, 2x2 patch merge), an MLP projector, DeepSeek-V3 LLM (MLA attention, MoE);
images, several images and video (frames in temporal chunks)."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import ids_of, train_tokenizer

FAMILY = Family(
    "kimi_k25",
    ("kimi_k25",),
    vision=("model.vision_tower",),
    projector=("model.mm_projector",),
    llm=("model.language_model",),
    video=True,
    notes="Kimi K2.5; LoRA reaches the LLM's attention and dense layers (its routed experts are fused tensors).",
)

MODELS = [
    ModelEntry("tiny-kimi-k25", "kimi_k25", "(built locally)", tiny=True),
    ModelEntry("kimi-k2.5", "kimi_k25", "moonshotai/Kimi-K2.5"),
]

# Kimi turn format: <|im_system|> / <|im_user|> / <|im_assistant|> + role name + <|im_middle|> + content + <|im_end|>,
# a default system prompt when none is given, media as <|media_begin|>kind<|media_content|>placeholder<|media_end|>.
TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by "
    "Moonshot AI.<|im_end|>{% endif %}{% for message in messages %}"
    "{{ '<|im_' + message['role'] + '|>' + message['role'] + '<|im_middle|>' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|media_begin|>image<|media_content|><|media_pad|><|media_end|>\n"
    "{% elif c['type'] == 'video' %}<|kimi_k25_video_placeholder|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>{% endfor %}"
    "{% if add_generation_prompt %}<|im_assistant|>assistant<|im_middle|>{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "[BOS]", "eos_token": "<|im_end|>", "pad_token": "[PAD]"}
    roles = ["<|im_system|>", "<|im_user|>", "<|im_assistant|>", "<|im_middle|>"]
    media = ["<|media_begin|>", "<|media_content|>", "<|media_end|>", "<|media_pad|>", "<|kimi_k25_video_placeholder|>"]
    tok = train_tokenizer(special, roles + media)
    ids = ids_of(
        tok,
        image_token_id="<|media_pad|>",
        video_token_id="<|kimi_k25_video_placeholder|>",
        vision_start_token_id="<|media_begin|>",
        vision_end_token_id="<|media_end|>",
    )
    text = dict(
        model_type="deepseek_v3",
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        moe_intermediate_size=32,
        num_hidden_layers=2,
        first_k_dense_replace=1,
        num_attention_heads=4,
        num_key_value_heads=4,
        n_routed_experts=4,
        num_experts_per_tok=2,
        n_group=1,
        topk_group=1,
        kv_lora_rank=16,
        q_lora_rank=32,
        qk_rope_head_dim=8,
        qk_nope_head_dim=8,
        v_head_dim=16,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        patch_size=14,
        pos_emb_height=8,
        pos_emb_width=8,
    )
    cfg = tf.Kimi_K25Config(text_config=text, vision_config=vision, projection_hidden_size=32, **ids)
    size = {"max_height": 56, "max_width": 56}
    proc = tf.Kimi_K25Processor(
        image_processor=tf.Kimi_K25ImageProcessor(size=size, patch_size=14, merge_size=2),
        video_processor=tf.Kimi_K25VideoProcessor(size=size, patch_size=14, merge_size=2),
        tokenizer=tok,
        chat_template=TEMPLATE,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
