"""Perception-LM: a timm Perception Encoder (PE core) tower, a two-layer MLP projector with 2x2 pooling and a Llama 3
LLM; images as a thumbnail plus tiles, several images and video."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import TEXT_QWEN, ids_of, train_tokenizer

FAMILY = Family(
    "perception_lm",
    ("perception_lm",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    video=True,
    notes="Perception-LM (PLM); the vision tower is a timm model (needs `timm`).",
)

MODELS = [
    ModelEntry("tiny-perception-lm", "perception_lm", "(built locally)", tiny=True),
    ModelEntry("perception-lm-1b", "perception_lm", "facebook/Perception-LM-1B"),
    ModelEntry("perception-lm-3b", "perception_lm", "facebook/Perception-LM-3B"),
    ModelEntry("perception-lm-8b", "perception_lm", "facebook/Perception-LM-8B"),
]

# Llama 3 header format as PLM writes it: BOS once, a header per turn, images then videos then text, <|eot_id|> after
# every turn.
TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    "{% if message['content'] is string %}{{ message['content'] | trim }}{% else %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<|image|>' }}{% endfor %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<|video|>' }}{% endfor %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'text') %}{{ c['text'] | trim }}{% endfor %}"
    "{% endif %}{{ '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "pad_token": "<|end_of_text|>"}
    named = {"image_token": "<|image|>", "video_token": "<|video|>"}
    base = train_tokenizer(special, ["<|eom_id|>", "<|start_header_id|>", "<|end_header_id|>", *named.values()], True)
    tok = tf.PreTrainedTokenizerFast(tokenizer_object=base.backend_tokenizer, extra_special_tokens=named, **special)
    ids = ids_of(tok, end="<|end_of_text|>", eom="<|eom_id|>", image_token_id="<|image|>", video_token_id="<|video|>")
    stop = [ids.pop("end"), ids.pop("eom"), tok.eos_token_id]
    text = dict(
        TEXT_QWEN,
        model_type="llama",
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=stop,
        pad_token_id=tok.pad_token_id,
    )
    # A 28 px tile is 2 x 2 patches of 14 px plus a CLS token; the projector pools 2 x 2 patches into 1 token.
    vision = dict(
        model_type="timm_wrapper",
        architecture="vit_pe_core_large_patch14_336",
        # as PLM's own tower: no attention-pool head, no post-transformer norm (patch features go to the projector)
        model_args=dict(
            embed_dim=32,
            depth=2,
            num_heads=2,
            img_size=[28, 28],
            ref_feat_shape=[2, 2],
            global_pool="",
            use_post_transformer_norm=False,
        ),
        do_pooling=False,
    )
    cfg = tf.PerceptionLMConfig(text_config=text, vision_config=vision, projector_pooling_ratio=2, **ids)
    proc = tf.PerceptionLMProcessor(
        image_processor=tf.PerceptionLMImageProcessor(tile_size=28, max_num_tiles=4, size={"height": 28, "width": 28}),
        video_processor=tf.PerceptionLMVideoProcessor(size={"height": 28, "width": 28}),
        tokenizer=tok,
        patch_size=14,
        pooling_ratio=2,
        chat_template=TEMPLATE,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.bos_token_id = tok.bos_token_id
    model.generation_config.eos_token_id = stop
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
