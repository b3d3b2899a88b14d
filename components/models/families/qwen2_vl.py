"""Qwen2-VL: dynamic resolution, M-RoPE; images, several images and video."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import CHATML_QWEN_VL, TEXT_QWEN, ids_of, train_tokenizer

FAMILY = Family(
    "qwen2_vl",
    ("qwen2_vl",),
    vision=("model.visual",),
    projector=("model.visual.merger",),
    llm=("model.language_model",),
    video=True,
)

MODELS = [
    ModelEntry("tiny-qwen2-vl", "qwen2_vl", "(built locally)", tiny=True),
    ModelEntry("qwen2-vl-2b-instruct", "qwen2_vl", "Qwen/Qwen2-VL-2B-Instruct"),
    ModelEntry("qwen2-vl-7b-instruct", "qwen2_vl", "Qwen/Qwen2-VL-7B-Instruct"),
    ModelEntry("qwen2-vl-72b-instruct", "qwen2_vl", "Qwen/Qwen2-VL-72B-Instruct"),
]


def build_qwen_vl(out: Path, version: str) -> None:
    import transformers as tf

    special = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    extra = ["<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    tok = train_tokenizer(special, extra)
    ids = ids_of(
        tok,
        image_token_id="<|image_pad|>",
        video_token_id="<|video_pad|>",
        vision_start_token_id="<|vision_start|>",
        vision_end_token_id="<|vision_end|>",
    )
    text = dict(
        TEXT_QWEN,
        vocab_size=len(tok),
        rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0},
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
    if version == "2":
        vision = dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=14)
        cfg = tf.Qwen2VLConfig(text_config=text, vision_config=vision, **ids)
        proc_cls = tf.Qwen2VLProcessor
    else:
        vision = dict(
            depth=2,
            hidden_size=32,
            out_hidden_size=64,
            num_heads=2,
            intermediate_size=64,
            patch_size=14,
            fullatt_block_indexes=[1],
            window_size=56,
        )
        cfg = tf.Qwen2_5_VLConfig(text_config=text, vision_config=vision, **ids)
        proc_cls = tf.Qwen2_5_VLProcessor
    cfg.eos_token_id = tok.eos_token_id
    cfg.pad_token_id = tok.pad_token_id
    size = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
    proc = proc_cls(
        image_processor=tf.Qwen2VLImageProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2),
        video_processor=tf.Qwen2VLVideoProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2),
        tokenizer=tok,
        chat_template=CHATML_QWEN_VL,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = [tok.eos_token_id]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)


def tiny(out: Path) -> None:
    build_qwen_vl(out, "2")
