"""Llama 3.2 Vision (mllama): a tiled ViT whose features enter the Llama LLM through gated cross-attention layers; the
prompt holds one `<|image|>` token per image and no expanded image tokens."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import TEXT_QWEN, ids_of, train_tokenizer

FAMILY = Family(
    "mllama",
    ("mllama",),
    vision=("model.vision_model",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    multi_image=False,
    quirks=frozenset({"pil_image_processor"}),
    notes=(
        "Llama 3.2 Vision; images reach the LLM through cross-attention layers (in the LLM, so they take its LoRA). "
        "One image per row: the processor accepts several, but Meta did not train on several and recommends one. "
        "Loads the PIL image processor: in transformers 5.24 the torchvision MllamaImageProcessor._preprocess calls "
        "reorder_images twice on one index whose `_num_sublists` the first call pops (image_transforms."
        "_reconstruct_nested_structure), so a batch ending in text-only rows gets fewer aspect_ratio_ids than rows."
    ),
)

MODELS = [
    ModelEntry("tiny-mllama", "mllama", "(built locally)", tiny=True),
    ModelEntry("llama-3.2-11b-vision-instruct", "mllama", "meta-llama/Llama-3.2-11B-Vision-Instruct"),
    ModelEntry("llama-3.2-90b-vision-instruct", "mllama", "meta-llama/Llama-3.2-90B-Vision-Instruct"),
]

# Llama 3 header format, as the Llama 3.2 Vision Instruct template writes it: BOS once, a header per turn, <|eot_id|>
# after every turn, `<|image|>` where the image goes.
TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}{{ '<|image|>' }}{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def tiny(out: Path) -> None:
    import torch
    import transformers as tf

    special = {
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|eot_id|>",
        "pad_token": "<|finetune_right_pad_id|>",
    }
    extra = ["<|end_of_text|>", "<|eom_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|image|>", "<|python_tag|>"]
    tok = train_tokenizer(special, extra, add_bos=True)
    ids = ids_of(tok, eot="<|eot_id|>", eom="<|eom_id|>", end="<|end_of_text|>", image="<|image|>")
    text = dict(
        TEXT_QWEN,
        num_hidden_layers=3,
        cross_attention_layers=[1],
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=[ids["end"], ids["eom"], ids["eot"]],
        pad_token_id=tok.pad_token_id,
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_global_layers=1,
        attention_heads=2,
        image_size=28,
        patch_size=14,
        max_num_tiles=4,
        intermediate_layers_indices=[0],
        vision_output_dim=64,  # hidden_size * (1 + len(intermediate_layers_indices))
    )
    cfg = tf.MllamaConfig(text_config=text, vision_config=vision, image_token_index=ids["image"])
    improc = tf.MllamaImageProcessor(size={"height": 28, "width": 28}, max_image_tiles=4)
    proc = tf.MllamaProcessor(image_processor=improc, tokenizer=tok, chat_template=TEMPLATE)
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    # Fresh mllama initialises its tanh gates (cross-attention, tile/position embeddings) to zero, which cuts the image
    # path off the loss; a trained checkpoint has them open, so open them here as well.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.rsplit(".", 1)[-1] in ("gate", "cross_attn_attn_gate", "cross_attn_mlp_gate"):
                p.fill_(0.5)
    model.generation_config.bos_token_id = tok.bos_token_id
    model.generation_config.eos_token_id = [ids["end"], ids["eom"], ids["eot"]]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
