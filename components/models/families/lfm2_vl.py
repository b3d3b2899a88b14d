"""LFM2-VL: SigLIP2 NaFlex tower (native resolution, large images tiled), pixel-unshuffle MLP projector, LFM2 hybrid
conv/attention LLM; images."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import train_tokenizer, wire_special_ids

FAMILY = Family(
    "lfm2_vl",
    ("lfm2_vl",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="ChatML turns after a template-written BOS (<|startoftext|>); turns end '<|im_end|>\\n'.",
)

MODELS = [
    ModelEntry("tiny-lfm2-vl", "lfm2_vl", "(built locally)", tiny=True),
    ModelEntry("lfm2-vl-450m", "lfm2_vl", "LiquidAI/LFM2-VL-450M"),
    ModelEntry("lfm2-vl-1.6b", "lfm2_vl", "LiquidAI/LFM2-VL-1.6B"),
]

# LFM2 format: BOS written by the template, ChatML turns, media placeholders in content order.
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<|startoftext|>", "eos_token": "<|im_end|>", "pad_token": "<|pad|>"}
    media = ["<|im_start|>", "<image>", "<|image_start|>", "<|image_end|>", "<|img_thumbnail|>"]
    media += [f"<|img_row_{r}_col_{c}|>" for r in range(1, 5) for c in range(1, 5)]
    tok = train_tokenizer(special, media, add_bos=True)
    text = dict(
        model_type="lfm2",
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        block_auto_adjust_ff_dim=False,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        layer_types=["conv", "full_attention"],
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    patch = 8
    vision = dict(
        model_type="siglip2_vision_model",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        patch_size=patch,
        num_patches=64,  # 8x8 position grid, interpolated to each image's patch grid
        vision_use_head=False,
    )
    cfg = tf.Lfm2VlConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        projector_hidden_size=64,
        downsample_factor=2,
    )
    wire_special_ids(cfg, tok)
    image_processor = tf.Lfm2VlImageProcessor(
        encoder_patch_size=patch,
        downsample_factor=2,
        tile_size=32,  # 4x4 patches -> 4 tokens per tile
        min_tiles=2,
        max_tiles=4,
        min_image_tokens=4,
        max_image_tokens=16,
        size={"height": 32, "width": 32},
    )
    proc = tf.Lfm2VlProcessor(image_processor=image_processor, tokenizer=tok, chat_template=TEMPLATE)
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
