"""Gemma 3n: MobileNetV5 (timm) vision tower, per-layer embeddings and AltUp in the LLM; images (audio unused here)."""

from __future__ import annotations

from pathlib import Path

from components.models.families.gemma3 import gemma_tokenizer
from components.models.family import Family, ModelEntry
from components.models.tiny.parts import wire_special_ids

FAMILY = Family(
    "gemma3n",
    ("gemma3n",),
    vision=("model.vision_tower",),
    projector=("model.embed_vision",),
    llm=("model.language_model",),
    notes="Needs `timm`. Image and text only here: the audio tower stays frozen. Gemma 3 chat format with "
    "<image_soft_token> placeholders.",
)

MODELS = [
    ModelEntry("tiny-gemma3n", "gemma3n", "(built locally)", tiny=True),
    ModelEntry("gemma-3n-e2b-it", "gemma3n", "google/gemma-3n-E2B-it"),
    ModelEntry("gemma-3n-e4b-it", "gemma3n", "google/gemma-3n-E4B-it"),
]

# The Gemma 3 format (BOS from the template, system folded into the first user turn, assistant -> "model",
# "<end_of_turn>\n"), with Gemma 3n's media placeholders.
TEMPLATE = (
    "{{ bos_token }}{% set sys = '' %}{% set msgs = messages %}{% if messages[0]['role'] == 'system' %}"
    "{% set c = messages[0]['content'] %}{% set sys = (c if c is string else c[0]['text']) + '\n\n' %}"
    "{% set msgs = messages[1:] %}{% endif %}{% for m in msgs %}"
    "{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ sys if loop.first else '' }}"
    "{% if m['content'] is string %}{{ m['content'] | trim }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'audio' %}<audio_soft_token>{% elif c['type'] == 'image' %}<image_soft_token>"
    "{% elif c['type'] == 'text' %}{{ c['text'] | trim }}{% endif %}{% endfor %}{% endif %}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

MEDIA_VOCAB = 4  # ids per multimodal embedder (the real ones have 128)
IMAGE_SIZE = 64  # MobileNetV5 downsamples 32x: a 2x2 grid, fused to 4 soft tokens per image


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}
    # As the real vocabulary: text ids, then the vision ids (eoi, image soft token, ...), then the audio ids.
    vision_ids = ["<end_of_image>", "<image_soft_token>"] + [f"<vision_{i}>" for i in range(2, MEDIA_VOCAB)]
    audio_ids = ["<end_of_audio>", "<audio_soft_token>"] + [f"<audio_{i}>" for i in range(2, MEDIA_VOCAB)]
    named = {
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
        "boa_token": "<start_of_audio>",
        "eoa_token": "<end_of_audio>",
        "audio_token": "<audio_soft_token>",
    }
    tok = gemma_tokenizer(special, ["<start_of_turn>", "<end_of_turn>"], named, tail=vision_ids + audio_ids)
    text_vocab = len(tok) - 2 * MEDIA_VOCAB
    assert tok.convert_tokens_to_ids("<end_of_image>") == text_vocab
    text = dict(
        vocab_size=len(tok),
        vocab_size_per_layer_input=text_vocab,
        hidden_size=64,
        hidden_size_per_layer_input=16,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        sliding_window=64,
        layer_types=["sliding_attention", "full_attention"],
        activation_sparsity_pattern=[0.0, 0.0],
        num_kv_shared_layers=0,
        laurel_rank=8,
        altup_num_inputs=2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    vision = dict(
        architecture="mobilenetv5_300m_enc",
        model_args={"channel_multiplier": 0.0625, "msfa_output_resolution": 2},
        hidden_size=2048,  # fixed by the MobileNetV5 fusion adapter
        vocab_size=MEDIA_VOCAB,
        vocab_offset=text_vocab,
    )
    audio = dict(
        hidden_size=32,
        conf_num_attention_heads=2,
        conf_num_hidden_layers=1,
        sscp_conv_channel_size=[8, 8],
        vocab_size=MEDIA_VOCAB,
        vocab_offset=text_vocab + MEDIA_VOCAB,
    )
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in named.items()}
    cfg = tf.Gemma3nConfig(
        text_config=text,
        vision_config=vision,
        audio_config=audio,
        vision_soft_tokens_per_image=4,
        audio_soft_tokens_per_image=4,
        boi_token_id=ids["boi_token"],
        eoi_token_id=ids["eoi_token"],
        image_token_id=ids["image_token"],
        boa_token_id=ids["boa_token"],
        eoa_token_id=ids["eoa_token"],
        audio_token_id=ids["audio_token"],
    )
    wire_special_ids(cfg, tok)
    proc = tf.Gemma3nProcessor(
        feature_extractor=tf.Gemma3nAudioFeatureExtractor(),
        image_processor=tf.SiglipImageProcessor(
            size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, image_mean=[0.0] * 3, image_std=[1.0] * 3
        ),
        tokenizer=tok,
        image_seq_length=4,
        audio_seq_length=4,
        chat_template=TEMPLATE,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    # AltUp's output scale initialises to zero, which silences the per-layer-input path of a fresh model; a trained
    # checkpoint has it non-zero, so give the tiny one random values.
    for layer in model.model.language_model.layers:
        layer.altup.correct_output_scale.data.normal_(0.0, 0.5)
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.convert_tokens_to_ids("<end_of_turn>")]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
