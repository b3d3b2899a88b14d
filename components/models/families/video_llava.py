"""Video-LLaVA: separate CLIP image and video towers (LanguageBind), one shared MLP projector; images and video."""

from __future__ import annotations

from pathlib import Path

from components.models.families.llava_next_video import TEMPLATE as VICUNA_VIDEO
from components.models.family import Family, ModelEntry
from components.models.tiny.parts import clip_vision, text_config, train_tokenizer, wire_special_ids

FAMILY = Family(
    "video_llava",
    ("video_llava",),
    vision=("model.image_tower", "model.video_tower"),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    video=True,
    notes="Video-LLaVA; two vision towers (image, video) share the projector. The Vicuna template emits no EOS after "
    "answers, so EOS is supervised.",
)

MODELS = [
    ModelEntry("tiny-video-llava", "video_llava", "(built locally)", tiny=True),
    ModelEntry("video-llava-7b", "video_llava", "LanguageBind/Video-LLaVA-7B-hf"),
]

# The same Vicuna format as LLaVA-NeXT-Video's 7B checkpoint: `USER: <video>\ntext ASSISTANT: answer `; no end-of-turn
# token.


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    tok = train_tokenizer(special, ["<image>", "<video>"], add_bos=True)
    text = text_config(tok, "llama")
    vision = clip_vision()
    cfg = tf.VideoLlavaConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        video_token_id=tok.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,  # real: -2; -1 so LoRA on the last tiny layer gets gradients
        image_seq_length=4,
        video_seq_length=4 * 5,
    )
    wire_special_ids(cfg, tok)
    size, crop = {"shortest_edge": 28}, {"height": 28, "width": 28}
    proc = tf.VideoLlavaProcessor(
        image_processor=tf.VideoLlavaImageProcessor(size=size, crop_size=crop),
        video_processor=tf.VideoLlavaVideoProcessor(size=size, crop_size=crop),
        tokenizer=tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=VICUNA_VIDEO,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
