"""Idefics2: SigLIP tower at native aspect ratio, perceiver-resampler connector, Mistral LLM; images."""

from __future__ import annotations

from pathlib import Path

from components.models.families.idefics3 import template
from components.models.family import Family, ModelEntry
from components.models.tiny.parts import train_tokenizer, wire_special_ids

FAMILY = Family(
    "idefics2",
    ("idefics2",),
    vision=("model.vision_model",),
    projector=("model.connector",),
    llm=("model.text_model",),
    notes="Roles 'User:'/'Assistant:', every turn ends '<end_of_utterance>\\n'; the tokenizer adds BOS.",
)

MODELS = [
    ModelEntry("tiny-idefics2", "idefics2", "(built locally)", tiny=True),
    ModelEntry("idefics2-8b", "idefics2", "HuggingFaceM4/idefics2-8b"),
]


def tiny(out: Path) -> None:
    import transformers as tf

    # Mistral tokenizer; generation also stops on <end_of_utterance>
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>"}
    tok = train_tokenizer(special, ["<fake_token_around_image>", "<image>", "<end_of_utterance>"], add_bos=True)
    text = dict(
        model_type="mistral",
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    vision = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=56, patch_size=14
    )
    perceiver = dict(
        hidden_size=64,
        resampler_n_latents=4,
        resampler_depth=1,
        resampler_n_heads=2,
        resampler_head_dim=16,
        num_key_value_heads=1,
    )
    cfg = tf.Idefics2Config(
        text_config=text,
        vision_config=vision,
        perceiver_config=perceiver,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
    )
    wire_special_ids(cfg, tok)
    proc = tf.Idefics2Processor(
        image_processor=tf.Idefics2ImageProcessor(
            size={"shortest_edge": 56, "longest_edge": 56}, do_image_splitting=True
        ),
        tokenizer=tok,
        image_seq_len=4,  # = resampler_n_latents
        chat_template=template(""),
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.convert_tokens_to_ids("<end_of_utterance>")]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
