"""LLaVA-NeXT-Video: the LLaVA-NeXT architecture (CLIP tower, anyres images) plus pooled video frames."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import clip_vision, text_config, train_tokenizer, wire_special_ids

FAMILY = Family(
    "llava_next_video",
    ("llava_next_video",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector", "model.image_newline"),
    llm=("model.language_model",),
    video=True,
    notes="LLaVA-NeXT-Video; the 7B (Vicuna) template emits no EOS after answers, so EOS is supervised.",
)

MODELS = [
    ModelEntry("tiny-llava-next-video", "llava_next_video", "(built locally)", tiny=True),
    ModelEntry("llava-next-video-7b", "llava_next_video", "llava-hf/LLaVA-NeXT-Video-7B-hf"),
    ModelEntry("llava-next-video-7b-dpo", "llava_next_video", "llava-hf/LLaVA-NeXT-Video-7B-DPO-hf"),
    ModelEntry("llava-next-video-34b", "llava_next_video", "llava-hf/LLaVA-NeXT-Video-34B-hf"),
]

# The 7B (Vicuna) format: `USER: <image>\n<video>\ntext ASSISTANT: answer `; a system message as bare text; media of a
# turn before its text; no end-of-turn token.
TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\n' }}{% endfor %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'text') %}{{ c['text'] + ' ' }}{% endfor %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    tok = train_tokenizer(special, ["<image>", "<video>"], add_bos=True)
    text = text_config(tok, "llama")
    vision = clip_vision()
    pinpoints = [[28, 28], [28, 56], [56, 28]]
    cfg = tf.LlavaNextVideoConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        video_token_id=tok.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,  # real: -2; -1 so LoRA on the last tiny layer gets gradients
        spatial_pool_stride=2,
        image_seq_length=4,
        video_seq_length=1,
    )
    wire_special_ids(cfg, tok)
    size, crop = {"shortest_edge": 28}, {"height": 28, "width": 28}
    proc = tf.LlavaNextVideoProcessor(
        image_processor=tf.LlavaNextImageProcessor(size=size, crop_size=crop, image_grid_pinpoints=pinpoints),
        video_processor=tf.LlavaNextVideoVideoProcessor(size=size, crop_size=crop),
        tokenizer=tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=TEMPLATE,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
