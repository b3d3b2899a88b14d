"""Llama 4 (Scout / Maverick): a tiled ViT with pixel-shuffle MLP, a linear projector and a mixture-of-experts LLM;
several images per row."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import ids_of, train_tokenizer

BUG = (
    "transformers 5.24 Llama4ForConditionalGeneration.forward (models/llama4/modeling_llama4.py, line 1318) builds "
    "its output with `image_outputs=outputs.image_outputs`, but `outputs` is the language model's "
    "MoeCausalLMOutputWithPast, which has no such field, so every forward raises; fixed when a release passes the "
    "vision encoder's outputs there"
)

FAMILY = Family(
    "llama4",
    ("llama4",),
    vision=("vision_model",),
    projector=("multi_modal_projector", "vision_model.vision_adapter"),
    llm=("language_model",),
    known_bugs=(("'MoeCausalLMOutputWithPast' object has no attribute 'image_outputs'", BUG),),
    notes="Llama 4 Scout / Maverick; the vision adapter (pixel-shuffle MLP) counts as projector.",
)

MODELS = [
    ModelEntry("tiny-llama4", "llama4", "(built locally)", tiny=True),
    ModelEntry("llama-4-scout-17b-16e-instruct", "llama4", "meta-llama/Llama-4-Scout-17B-16E-Instruct"),
    ModelEntry("llama-4-maverick-17b-128e-instruct", "llama4", "meta-llama/Llama-4-Maverick-17B-128E-Instruct"),
]

# Llama 4 header format: BOS once, `<|header_start|>role<|header_end|>\n\n` per turn, `<|eot|>` after every turn,
# `<|image|>` where an image goes (the processor expands it into tiles of <|patch|> tokens).
TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|header_start|>' + message['role'] + '<|header_end|>\n\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}{{ '<|image|>' }}{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '<|eot|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|header_start|>assistant<|header_end|>\n\n' }}{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot|>", "pad_token": "<|finetune_right_pad|>"}
    media = ["<|image_start|>", "<|image_end|>", "<|image|>", "<|patch|>", "<|tile_x_separator|>"]
    extra = ["<|end_of_text|>", "<|eom|>", "<|header_start|>", "<|header_end|>", *media, "<|tile_y_separator|>"]
    tok = train_tokenizer(special, extra, add_bos=True)
    ids = ids_of(
        tok,
        end="<|end_of_text|>",
        eom="<|eom|>",
        boi_token_index="<|image_start|>",
        eoi_token_index="<|image_end|>",
        image_token_index="<|patch|>",
    )
    stop = [ids.pop("end"), tok.eos_token_id, ids.pop("eom")]
    text = dict(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        intermediate_size_mlp=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        num_local_experts=2,
        num_experts_per_tok=1,
        attention_chunk_size=128,
        bos_token_id=tok.bos_token_id,
        eos_token_id=stop,
        pad_token_id=tok.pad_token_id,
    )
    # 28 / 14 = 2 x 2 patches per tile, pixel-shuffled (ratio 0.5) into 1 token; the shuffle quadruples the channels.
    vision = dict(
        hidden_size=32,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=28,
        patch_size=14,
        vision_output_dim=64,
        projector_input_dim=64,
        projector_output_dim=64,
    )
    cfg = tf.Llama4Config(text_config=text, vision_config=vision, **ids)
    improc = tf.Llama4ImageProcessor(size={"height": 28, "width": 28}, max_patches=4)
    proc = tf.Llama4Processor(image_processor=improc, tokenizer=tok, patch_size=14, chat_template=TEMPLATE)
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    model.generation_config.bos_token_id = tok.bos_token_id
    model.generation_config.eos_token_id = stop
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
