"""InternVL 3 / 3.5 (the `-hf` conversions): InternViT tower, pixel-shuffle + MLP projector, Qwen LLM; dynamic tiling of
images, videos as frames of one tile each."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import text_config, train_tokenizer

FAMILY = Family(
    "internvl",
    ("internvl",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    video=True,
    notes="InternVL 3 and 3.5 in their transformers-native (`-hf`) conversions.",
)

MODELS = [
    ModelEntry("tiny-internvl", "internvl", "(built locally)", tiny=True),
    ModelEntry("internvl3-1b", "internvl", "OpenGVLab/InternVL3-1B-hf"),
    ModelEntry("internvl3-2b", "internvl", "OpenGVLab/InternVL3-2B-hf"),
    ModelEntry("internvl3-8b", "internvl", "OpenGVLab/InternVL3-8B-hf"),
    ModelEntry("internvl3.5-1b", "internvl", "OpenGVLab/InternVL3_5-1B-HF"),
    ModelEntry("internvl3.5-8b", "internvl", "OpenGVLab/InternVL3_5-8B-HF"),
]

# ChatML without a default system prompt; an image is `<IMG_CONTEXT>\n` and a video `<video>\n`, in content order (the
# processor expands each into <img> + N x <IMG_CONTEXT> + </img>, per tile or per frame).
TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}{{ '<IMG_CONTEXT>\n' }}{% elif c['type'] == 'video' %}{{ '<video>\n' }}"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}{{ '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    named = {
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>",
    }
    base = train_tokenizer(special, ["<|im_start|>", *named.values()])
    tok = tf.PreTrainedTokenizerFast(tokenizer_object=base.backend_tokenizer, extra_special_tokens=named, **special)
    image_token_id = tok.convert_tokens_to_ids("<IMG_CONTEXT>")
    text = text_config(tok, "qwen2")
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=[28, 28],
        patch_size=[14, 14],
    )
    # (28 / 14)^2 patches, pixel-shuffled by downsample_ratio 0.5 -> 1 token per tile
    cfg = tf.InternVLConfig(
        text_config=text, vision_config=vision, image_token_id=image_token_id, image_seq_length=1, downsample_ratio=0.5
    )
    size = {"height": 28, "width": 28}
    proc = tf.InternVLProcessor(
        image_processor=tf.GotOcr2ImageProcessor(size=size, crop_to_patches=True, min_patches=1, max_patches=4),
        video_processor=tf.InternVLVideoProcessor(size=size),
        tokenizer=tok,
        image_seq_length=1,
        chat_template=TEMPLATE,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
