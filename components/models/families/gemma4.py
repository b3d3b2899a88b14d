"""Gemma 4: ViT with 2-D positions and spatial pooling, Gemma 4 LLM; images (several) and video (timestamped frames).
Audio exists on some checkpoints; only image, video and text are used here."""

from __future__ import annotations

from pathlib import Path

from components.models.families.gemma3 import gemma_tokenizer
from components.models.family import Family, ModelEntry
from components.models.tiny.parts import wire_special_ids

FAMILY = Family(
    "gemma4",
    ("gemma4",),
    vision=("model.vision_tower",),
    projector=("model.embed_vision",),
    llm=("model.language_model",),
    video=True,
    notes="Template written without thinking: the generation prompt is '<|turn>model\\n' (the shipped template adds "
    "an empty thought channel when thinking is off, which no training turn contains). Turns end '<turn|>\\n'.",
)

MODELS = [
    ModelEntry("tiny-gemma4", "gemma4", "(built locally)", tiny=True),
    ModelEntry("gemma-4-e2b-it", "gemma4", "google/gemma-4-E2B-it"),
    ModelEntry("gemma-4-e4b-it", "gemma4", "google/gemma-4-E4B-it"),
    ModelEntry("gemma-4-31b-it", "gemma4", "google/gemma-4-31B-it"),
]

# The Gemma 4 format without thinking: BOS from the template, a system turn only when there is a system message,
# assistant -> "model", media as bare <|image|> / <|video|> / <|audio|> in content order, turns end "<turn|>\n".
TEMPLATE = (
    "{{ bos_token }}{% set msgs = messages %}{% if messages[0]['role'] in ['system', 'developer'] %}"
    "{% set c = messages[0]['content'] %}<|turn>system\n{{ (c if c is string else c[0]['text']) | trim }}<turn|>\n"
    "{% set msgs = messages[1:] %}{% endif %}{% for m in msgs %}"
    "<|turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] | trim }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'text' %}{{ c['text'] | trim }}{% elif c['type'] == 'image' %}<|image|>"
    "{% elif c['type'] == 'audio' %}<|audio|>{% elif c['type'] == 'video' %}<|video|>{% endif %}{% endfor %}"
    "{% endif %}<turn|>\n{% endfor %}{% if add_generation_prompt %}<|turn>model\n{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}
    named = {
        "boi_token": "<|image>",
        "eoi_token": "<image|>",
        "image_token": "<|image|>",
        "boa_token": "<|audio>",
        "eoa_token": "<audio|>",
        "audio_token": "<|audio|>",
    }
    turn = ["<|turn>", "<turn|>", "<|channel>", "<channel|>", "<|think|>", "<|video|>"]
    tok = gemma_tokenizer(special, turn, named)
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in named.items()}
    text = dict(
        vocab_size=len(tok),
        vocab_size_per_layer_input=len(tok),
        hidden_size=64,
        hidden_size_per_layer_input=16,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        global_head_dim=16,
        sliding_window=64,
        layer_types=["sliding_attention", "full_attention"],
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    patch, pool = 4, 2  # up to 280 patches of 4 px per image, pooled 2x2 to at most 70 soft tokens
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=16,
        patch_size=patch,
        pooling_kernel_size=pool,
        position_embedding_size=64,
    )
    cfg = tf.Gemma4Config(
        text_config=text,
        vision_config=vision,
        audio_config=None,
        boi_token_id=ids["boi_token"],
        eoi_token_id=ids["eoi_token"],
        image_token_id=ids["image_token"],
        video_token_id=tok.convert_tokens_to_ids("<|video|>"),
        boa_token_id=ids["boa_token"],
        eoa_token_index=ids["eoa_token"],
        audio_token_id=ids["audio_token"],
    )
    wire_special_ids(cfg, tok)
    media = dict(patch_size=patch, pooling_kernel_size=pool, max_soft_tokens=70)
    proc = tf.Gemma4Processor(
        feature_extractor=tf.Gemma4AudioFeatureExtractor(),
        image_processor=tf.Gemma4ImageProcessor(**media),
        video_processor=tf.Gemma4VideoProcessor(**media, num_frames=4),
        tokenizer=tok,
        image_seq_length=70,
        chat_template=TEMPLATE,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.convert_tokens_to_ids("<turn|>")]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
