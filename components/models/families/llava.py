"""LLaVA-1.5 and LLaVA-Interleave (Qwen LLM): CLIP/SigLIP tower, MLP projector."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import LLAVA_1_5, clip_vision, text_config, train_tokenizer, wire_special_ids

FAMILY = Family(
    "llava",
    ("llava",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="LLaVA-1.5 and LLaVA-Interleave; the 1.5 template emits no EOS after answers, so EOS is supervised.",
)

MODELS = [
    ModelEntry("tiny-llava", "llava", "(built locally)", tiny=True),
    ModelEntry("llava-1.5-7b", "llava", "llava-hf/llava-1.5-7b-hf"),
    ModelEntry("llava-1.5-13b", "llava", "llava-hf/llava-1.5-13b-hf"),
    ModelEntry("llava-interleave-qwen-0.5b", "llava", "llava-hf/llava-interleave-qwen-0.5b-hf"),
    ModelEntry("llava-interleave-qwen-7b", "llava", "llava-hf/llava-interleave-qwen-7b-hf"),
]


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    tok = train_tokenizer(special, ["<image>"], add_bos=True)
    text = text_config(tok, "llama")
    vision = clip_vision()
    cfg = tf.LlavaConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    wire_special_ids(cfg, tok)
    improc = tf.CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    proc = tf.LlavaProcessor(
        image_processor=improc,
        tokenizer=tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_1_5,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.save_pretrained(out)
    proc.save_pretrained(out)
