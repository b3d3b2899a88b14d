"""FastVLM (Apple): FastViTHD hybrid conv/attention encoder through timm (64x downsampling), MLP projector, Qwen2."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import text_config, train_tokenizer

FAMILY = Family(
    "fast_vlm",
    ("fast_vlm",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="FastVLM; the vision tower is a timm FastViT (LoRA reaches its attention stages' linear layers); LLaVA "
    "processor with one token per 64x64 patch; ChatML turns ending with `<|im_end|>`.",
)

MODELS = [
    ModelEntry("tiny-fast-vlm", "fast_vlm", "(built locally)", tiny=True),
    ModelEntry("fastvlm-0.5b", "fast_vlm", "KamilaMila/FastVLM-0.5B"),
    ModelEntry("fastvlm-1.5b", "fast_vlm", "KamilaMila/FastVLM-1.5B"),
    ModelEntry("fastvlm-7b", "fast_vlm", "KamilaMila/FastVLM-7B"),
]

# LLaVA-Qwen2 ChatML: a default system prompt, images of a turn (`<image>\n`) before its text, `<|im_end|>\n` after
# each turn.
TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'text') %}{{ c['text'] }}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    tok = train_tokenizer(special, ["<|im_start|>", "<image>"])
    text = text_config(tok, "qwen2")
    # fastvit_mci3 (FastViTHD) with one block per stage and narrow stages; the final conv doubles the last width.
    vision = dict(
        model_type="timm_wrapper",
        architecture="fastvit_mci3",
        hidden_size=64,
        do_pooling=False,
        model_args={"inference_mode": True, "layers": [1, 1, 1, 1, 1], "embed_dims": [8, 16, 16, 32, 32]},
    )
    cfg = tf.FastVlmConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        image_seq_length=4,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    cfg.eos_token_id, cfg.pad_token_id = tok.eos_token_id, tok.pad_token_id
    improc = tf.CLIPImageProcessor(
        size={"shortest_edge": 128},
        crop_size={"height": 128, "width": 128},
        image_mean=[0.0, 0.0, 0.0],
        image_std=[1.0, 1.0, 1.0],
    )
    proc = tf.LlavaProcessor(
        image_processor=improc,
        tokenizer=tok,
        patch_size=64,
        vision_feature_select_strategy="full",
        num_additional_image_tokens=0,
        chat_template=TEMPLATE,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
