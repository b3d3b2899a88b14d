"""Idefics3: SigLIP tower, pixel-shuffle connector, Llama 3 LLM; images split into tiles plus a global view."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import train_tokenizer, wire_special_ids

FAMILY = Family(
    "idefics3",
    ("idefics3",),
    vision=("model.vision_model",),
    projector=("model.connector",),
    llm=("model.text_model",),
    notes="Template writes BOS itself; roles 'User:'/'Assistant:', every turn ends '<end_of_utterance>\\n'.",
)

MODELS = [
    ModelEntry("tiny-idefics3", "idefics3", "(built locally)", tiny=True),
    ModelEntry("idefics3-8b-llama3", "idefics3", "HuggingFaceM4/Idefics3-8B-Llama3"),
]


def template(bos: str, video: bool = False) -> str:
    """The Idefics3 / SmolVLM format: a literal BOS, 'Role:' with no space before a leading image, content in order,
    '<end_of_utterance>\\n' after every turn, generation prompt 'Assistant:'."""
    media = "{% elif c['type'] == 'image' %}<image>" + ("{% elif c['type'] == 'video' %}<video>" if video else "")
    return (
        bos + "{% for m in messages %}{{ m['role'] | capitalize }}"
        "{% if m['content'] is string %}: {{ m['content'] }}{% else %}"
        "{{ ':' if m['content'][0]['type'] == 'image' else ': ' }}{% for c in m['content'] %}"
        "{% if c['type'] == 'text' %}{{ c['text'] }}" + media + "{% endif %}{% endfor %}{% endif %}"
        "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
    )


def build_idefics(out: Path, kind: str) -> None:
    """Idefics3 and SmolVLM share the architecture: 56 px tiles of 4x4 patches, pixel-shuffled 2x -> 4 tokens."""
    import transformers as tf

    smol = kind == "smolvlm"
    if smol:  # SmolVLM2: <|im_start|> is BOS, <end_of_utterance> EOS
        special = {"bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>", "pad_token": "<|im_end|>"}
    else:  # Llama 3 tokenizer; generation also stops on <end_of_utterance>
        special = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "pad_token": "<|finetune_pad|>"}
    media = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
    media += [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)] + (["<video>"] if smol else [])
    tok = train_tokenizer(special, media, add_bos=True)
    text = dict(
        model_type="llama",
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
    image_token_id = tok.convert_tokens_to_ids("<image>")
    tile, full = {"longest_edge": 56}, {"longest_edge": 112}
    if smol:
        cfg = tf.SmolVLMConfig(text_config=text, vision_config=vision, image_token_id=image_token_id, scale_factor=2)
        proc = tf.SmolVLMProcessor(
            image_processor=tf.SmolVLMImageProcessor(size=full, max_image_size=tile),
            video_processor=tf.SmolVLMVideoProcessor(size=tile, max_image_size=tile, num_frames=4, fps=1),
            tokenizer=tok,
            image_seq_len=4,
            chat_template=template("<|im_start|>", video=True),
        )
    else:
        cfg = tf.Idefics3Config(text_config=text, vision_config=vision, image_token_id=image_token_id, scale_factor=2)
        proc = tf.Idefics3Processor(
            image_processor=tf.Idefics3ImageProcessor(size=full, max_image_size=tile),
            tokenizer=tok,
            image_seq_len=4,
            chat_template=template("<|begin_of_text|>"),
        )
    wire_special_ids(cfg, tok)
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    eou = tok.convert_tokens_to_ids("<end_of_utterance>")
    model.generation_config.eos_token_id = [eou] if smol else [tok.eos_token_id, eou]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)


def tiny(out: Path) -> None:
    build_idefics(out, "idefics3")
