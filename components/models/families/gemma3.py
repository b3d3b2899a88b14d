"""Gemma 3: SigLIP tower, average-pooled projector, Gemma 3 LLM; images (several per conversation), no video."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import siglip_vision, train_tokenizer, wire_special_ids

FAMILY = Family(
    "gemma3",
    ("gemma3",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    notes="System message folded into the first user turn; bidirectional attention over image tokens.",
)

MODELS = [
    ModelEntry("tiny-gemma3", "gemma3", "(built locally)", tiny=True),
    ModelEntry("gemma-3-4b-it", "gemma3", "google/gemma-3-4b-it"),
    ModelEntry("gemma-3-12b-it", "gemma3", "google/gemma-3-12b-it"),
    ModelEntry("gemma-3-27b-it", "gemma3", "google/gemma-3-27b-it"),
]

# Gemma 3 format: the template writes BOS itself, folds the system message into the first user turn, renames the
# assistant "model", keeps content order with <start_of_image> placeholders and ends every turn "<end_of_turn>\n".
TEMPLATE = (
    "{{ bos_token }}{% set sys = '' %}{% set msgs = messages %}{% if messages[0]['role'] == 'system' %}"
    "{% set c = messages[0]['content'] %}{% set sys = (c if c is string else c[0]['text']) + '\n\n' %}"
    "{% set msgs = messages[1:] %}{% endif %}{% for m in msgs %}"
    "{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ sys if loop.first else '' }}"
    "{% if m['content'] is string %}{{ m['content'] | trim }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<start_of_image>{% elif c['type'] == 'text' %}{{ c['text'] | trim }}{% endif %}"
    "{% endfor %}{% endif %}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def gemma_tokenizer(special: dict[str, str], turn: list[str], named: dict[str, str], tail: list[str] = ()):
    """train_tokenizer plus named media tokens (boi_token, image_token, ...) the Gemma processors read as tokenizer
    attributes; they are saved in tokenizer_config like the real checkpoints' extra special tokens. `tail` tokens get
    the highest ids, in order (Gemma 3n embeds the ids above the text vocabulary with its multimodal embedders)."""
    from transformers import PreTrainedTokenizerFast

    head = [t for t in [*turn, *named.values()] if t not in tail]
    base = train_tokenizer(special, head, add_bos=True)
    if tail:
        base.backend_tokenizer.add_special_tokens(list(tail))
    return PreTrainedTokenizerFast(
        tokenizer_object=base.backend_tokenizer,
        **special,
        extra_special_tokens=turn,
        model_specific_special_tokens=named,
    )


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}
    named = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    tok = gemma_tokenizer(special, ["<start_of_turn>", "<end_of_turn>"], named)
    text = dict(
        model_type="gemma3_text",
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=64,
        layer_types=["sliding_attention", "full_attention"],
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    vision = siglip_vision(image_size=56, vision_use_head=False)
    cfg = tf.Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=4,  # 4x4 patches average-pooled to 2x2
        boi_token_index=tok.boi_token_id,
        eoi_token_index=tok.eoi_token_id,
        image_token_index=tok.image_token_id,
    )
    wire_special_ids(cfg, tok)
    proc = tf.Gemma3Processor(
        image_processor=tf.Gemma3ImageProcessor(size={"height": 56, "width": 56}),
        tokenizer=tok,
        image_seq_length=4,
        chat_template=TEMPLATE,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    # As the real checkpoints: generation stops on <eos> and on <end_of_turn>.
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.convert_tokens_to_ids("<end_of_turn>")]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
