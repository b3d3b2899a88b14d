"""MiniCPM-V 4.6 (transformers-native): SigLIP tower with a window-attention merger inside, a 2x2 downsampling MLP
merger, Qwen3.5 LLM (linear + full attention layers); images as an overview plus slices, several images and video."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import train_tokenizer

FAMILY = Family(
    "minicpmv4_6",
    ("minicpmv4_6",),
    vision=("model.vision_tower",),
    projector=("model.merger",),
    llm=("model.language_model",),
    video=True,
    notes="MiniCPM-V 4.6; the window-attention merger inside the vision tower trains with the tower.",
)

MODELS = [
    ModelEntry("tiny-minicpmv4.6", "minicpmv4_6", "(built locally)", tiny=True),
    ModelEntry("minicpm-v-4.6", "minicpmv4_6", "openbmb/MiniCPM-V-4.6"),
]

# ChatML (the Qwen3.5 LLM's turn format); the media placeholder is the processor's image / video token, which it
# expands into <image>...</image> and <slice>...</slice> runs.
TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}{{ '<|image_pad|>' }}{% elif c['type'] == 'video' %}{{ '<|video_pad|>' }}"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}{{ '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

NAMED = {
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "image_start_token": "<image>",
    "image_end_token": "</image>",
    "slice_start_token": "<slice>",
    "slice_end_token": "</slice>",
    "image_id_start_token": "<image_id>",
    "image_id_end_token": "</image_id>",
}


def tiny_text_config(tok) -> dict:
    """Qwen3.5 text config: one linear-attention and one full-attention layer; M-RoPE sections sum to the rotary
    half-dimension (head_dim 32 x partial_rotary_factor 0.25 / 2 = 4)."""
    return dict(
        model_type="qwen3_5_text",
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        layer_types=["linear_attention", "full_attention"],
        linear_key_head_dim=16,
        linear_value_head_dim=16,
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]},
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )


def build(out: Path, config_cls: str, processor_cls: str, canvas_ids: bool = False) -> None:
    """The tiny checkpoint of MiniCPM-V 4.6, or of 4.7 (`canvas_ids`: the marker and newline ids its canvas M-RoPE
    reads from the config)."""
    import transformers as tf

    special = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    base = train_tokenizer(special, ["<|im_start|>", *NAMED.values()])
    tok = tf.PreTrainedTokenizerFast(tokenizer_object=base.backend_tokenizer, extra_special_tokens=NAMED, **special)
    ids = {"image_token_id": tok.convert_tokens_to_ids("<|image_pad|>")}
    ids["video_token_id"] = tok.convert_tokens_to_ids("<|video_pad|>")
    if canvas_ids:
        for key, name in (("image_start_id", "<image>"), ("image_end_id", "</image>")):
            ids[key] = tok.convert_tokens_to_ids(name)
        for key, name in (("slice_start_id", "<slice>"), ("slice_end_id", "</slice>")):
            ids[key] = tok.convert_tokens_to_ids(name)
        (ids["newline_id"],) = tok("\n", add_special_tokens=False)["input_ids"]
    # 56 px = 4 x 4 patches of 14 px; the tower's window merger and the downsampling MLP each merge 2 x 2 -> 1 token.
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=56,
        patch_size=14,
    )
    cfg = getattr(tf, config_cls)(
        text_config=tiny_text_config(tok),
        vision_config=vision,
        insert_layer_id=0,
        image_size=56,
        **ids,
    )
    sizes = dict(scale_resolution=56, patch_size=14, max_slice_nums=2)
    proc = getattr(tf, processor_cls)(
        image_processor=tf.MiniCPMV4_6ImageProcessor(**sizes),
        video_processor=tf.MiniCPMV4_6VideoProcessor(**sizes, max_num_frames=4),
        tokenizer=tok,
        chat_template=TEMPLATE,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)


def tiny(out: Path) -> None:
    build(out, "MiniCPMV4_6Config", "MiniCPMV4_6Processor")
