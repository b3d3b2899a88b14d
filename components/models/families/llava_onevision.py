"""LLaVA-OneVision: SigLIP tower, anyres tiling; images, several images and video."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import ONEVISION, siglip_vision, text_config, train_tokenizer

FAMILY = Family(
    "llava_onevision",
    ("llava_onevision",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    video=True,
)

MODELS = [
    ModelEntry("tiny-llava-onevision", "llava_onevision", "(built locally)", tiny=True),
    ModelEntry("llava-onevision-0.5b-ov", "llava_onevision", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf"),
    ModelEntry("llava-onevision-7b-ov", "llava_onevision", "llava-hf/llava-onevision-qwen2-7b-ov-hf"),
    ModelEntry("llava-onevision-72b-ov", "llava_onevision", "llava-hf/llava-onevision-qwen2-72b-ov-hf"),
]


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    tok = train_tokenizer(special, ["<|im_start|>", "<image>", "<video>"])
    text = text_config(tok, "qwen2")
    vision = siglip_vision(vision_use_head=False)
    pinpoints = [[28, 28], [28, 56], [56, 28]]
    cfg = tf.LlavaOnevisionConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        video_token_id=tok.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
    )
    cfg.eos_token_id, cfg.pad_token_id = tok.eos_token_id, tok.pad_token_id
    size = {"height": 28, "width": 28}
    proc = tf.LlavaOnevisionProcessor(
        image_processor=tf.LlavaOnevisionImageProcessor(size=size, image_grid_pinpoints=pinpoints),
        video_processor=tf.LlavaOnevisionVideoProcessor(size=size),
        tokenizer=tok,
        num_image_tokens=4,
        vision_feature_select_strategy="full",
        chat_template=ONEVISION,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.save_pretrained(out)
    proc.save_pretrained(out)
